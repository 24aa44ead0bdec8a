"""The lock files agree with pyproject.toml, the environment is the locked one, tz rules are pinned.

`make lock` writes the locks from pyproject.toml; nothing here re-resolves (that needs the
package index), so these tests catch a pyproject edit without a `make lock`, a hand-edited or
hash-less pin, and an environment that drifted from the lock.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.settings import ROOT

RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@dataclass(frozen=True)
class Pin:
    requirement: Requirement
    hashes: list[str]

    @property
    def version(self) -> str:
        (spec,) = self.requirement.specifier
        return spec.version

    def applies_here(self) -> bool:
        marker = self.requirement.marker
        return marker is None or marker.evaluate()


def read_lock(path: Path) -> dict[str, Pin]:
    """A requirements file as `uv pip compile --generate-hashes` writes it, by package name."""
    pins: dict[str, Pin] = {}
    entry: list[str] = []
    for raw in [*path.read_text().splitlines(), ""]:
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line:
            entry.append(line.removesuffix("\\").strip())
        if entry and not raw.rstrip().endswith("\\"):
            head, *options = entry
            requirement = Requirement(head)
            hashes = [o.removeprefix("--hash=") for o in options if o.startswith("--hash=")]
            pins[canonicalize_name(requirement.name)] = Pin(requirement, hashes)
            entry = []
    return pins


def declared(*extras: str) -> list[Requirement]:
    found = [Requirement(r) for r in PYPROJECT["dependencies"]]
    for extra in extras:
        found += [Requirement(r) for r in PYPROJECT["optional-dependencies"][extra]]
    return found


@pytest.fixture(scope="module")
def runtime() -> dict[str, Pin]:
    return read_lock(RUNTIME_LOCK)


@pytest.fixture(scope="module")
def dev() -> dict[str, Pin]:
    return read_lock(DEV_LOCK)


def test_every_pin_is_exact_and_hashed(runtime: dict[str, Pin], dev: dict[str, Pin]) -> None:
    assert runtime and dev
    for lock in (runtime, dev):
        for name, pin in lock.items():
            assert str(pin.requirement.specifier).startswith("=="), name
            assert pin.hashes and all(h.startswith("sha256:") for h in pin.hashes), name


@pytest.mark.parametrize(
    ("lock_name", "extras"), [("runtime", ()), ("dev", ("dev",))], ids=["runtime", "dev"]
)
def test_every_declared_dependency_is_pinned_within_its_range(
    lock_name: str, extras: tuple[str, ...], request: pytest.FixtureRequest
) -> None:
    lock: dict[str, Pin] = request.getfixturevalue(lock_name)
    problems = []
    for requirement in declared(*extras):
        pin = lock.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{requirement} but the lock pins {pin.version}")
    assert not problems, "run `make lock`: " + "; ".join(problems)


def test_the_dev_lock_is_the_runtime_lock_plus_dev_tools(
    runtime: dict[str, Pin], dev: dict[str, Pin]
) -> None:
    """The image installs the runtime lock, `make` the dev lock: both run the same code."""
    assert set(runtime) <= set(dev)
    apart = {
        name: (pin.version, dev[name].version)
        for name, pin in runtime.items()
        if pin.version != dev[name].version
    }
    assert not apart


def test_temporalio_is_pinned_exactly(runtime: dict[str, Pin]) -> None:
    """Histories are replayed by the SDK that wrote them: an SDK upgrade is a deliberate change."""
    (temporalio,) = [r for r in declared() if r.name == "temporalio"]
    (spec,) = temporalio.specifier
    assert spec.operator == "=="
    assert runtime["temporalio"].version == spec.version


def test_this_environment_is_the_locked_one(dev: dict[str, Pin]) -> None:
    drift = {}
    for name, pin in dev.items():
        if not pin.applies_here():
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != pin.version:
            drift[name] = (pin.version, installed)
    assert not drift, f"locked vs installed (run `make install`): {drift}"


def test_time_zone_rules_come_from_the_pinned_tzdata_package() -> None:
    """Not the host's /usr/share/zoneinfo: every worker of a release computes the same deadlines."""
    assert "tzdata" in {canonicalize_name(r.name) for r in declared()}
    # A fresh interpreter, as `python worker.py` starts: no test fixture has touched zoneinfo.
    code = (
        "import worker, zoneinfo, datetime as d; "
        "print(zoneinfo.TZPATH); "
        "print(d.datetime(2026, 1, 1, tzinfo=zoneinfo.ZoneInfo('Asia/Shanghai')).utcoffset())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    # no search path left, so the zone could only have come from the tzdata package
    assert out == ["()", "8:00:00"]
