"""What every benchmark shares: how it is run, how it measures, how it reports.

Each benchmark measures Client Care against a baseline *in the same run*, alternating rounds, and
judges the ratio of the two: absolute rates on a shared 2-core machine say more about the
neighbours than about the code, a ratio measured side by side much less so.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def parser(description: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--workdir",
        type=Path,
        default=Path(os.environ.get("BENCH_WORKDIR", "/tmp/client-care-bench")),
        help="where servers started here keep their files (default %(default)s)",
    )
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds per side")
    return p


@dataclass
class Rate:
    """Work done over time, summed over the rounds of one side."""

    name: str
    unit: str
    done: int = 0
    seconds: float = 0.0
    rounds: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def add(self, done: int, seconds: float) -> None:
        self.done += done
        self.seconds += seconds
        self.rounds.append(done / seconds if seconds else 0.0)

    def line(self) -> str:
        spread = ", ".join(f"{r:,.1f}" for r in self.rounds)
        return f"  {self.name:<52} {self.per_second:>10,.1f} {self.unit}/s  (rounds: {spread})"


async def timed(work: Callable[[], Awaitable[int]]) -> tuple[int, float]:
    """(units of work done, seconds it took)."""
    start = time.perf_counter()
    done = await work()
    return done, time.perf_counter() - start


async def side_by_side(sides: list[tuple[Rate, Callable[[], Awaitable[int]]]], rounds: int) -> None:
    """Alternates the sides round by round, so slow and fast spells of a shared machine fall
    on both rather than on whichever happened to run then."""
    for n in range(rounds):
        for rate, work in sides if n % 2 == 0 else sides[::-1]:
            rate.add(*await timed(work))
            say(f"round {n + 1}: {rate.name}: {rate.rounds[-1]:,.1f} {rate.unit}/s")


@dataclass
class Verdict:
    checks: list[tuple[str, bool]] = field(default_factory=list)

    def ratio(self, what: str, measured: Rate, baseline: Rate, at_least: float) -> float:
        ratio = measured.per_second / baseline.per_second if baseline.per_second else 0.0
        self.check(f"{what}: ratio {ratio:.2f} (target >= {at_least:g})", ratio >= at_least)
        return ratio

    def check(self, what: str, ok: bool) -> None:
        self.checks.append((what, ok))

    def report(self, title: str, facts: dict[str, Any]) -> int:
        print(f"\n== {title} ==")
        for name, value in facts.items():
            print(f"  {name}: {value}")
        for what, ok in self.checks:
            print(f"  {'PASS' if ok else 'FAIL'}  {what}")
        failed = [w for w, ok in self.checks if not ok]
        print("RESULT:", "FAIL" if failed else "PASS")
        return 1 if failed else 0


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def machine() -> dict[str, str]:
    """What the figures were measured on; the load average says how busy it was."""
    import platform

    import psutil

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.1f} GiB, "
        f"{platform.python_implementation()} {platform.python_version()}",
        "load average at the end (1, 5, 15 min)": load,
    }


def byte_compile() -> None:
    """Writes the bytecode caches of our sources, as the image does (`compileall`) and as any
    Python run does unless PYTHONDONTWRITEBYTECODE is set (it is on this machine). Without them
    the workflow sandbox compiles each workflow's module from source for every workflow it
    starts, a cost no deployment should pay and the benchmarks should not measure."""
    import compileall

    for top in ("domain", "workflows", "activities", "projections", "infra", "bench"):
        compileall.compile_dir(ROOT / top, quiet=1)
