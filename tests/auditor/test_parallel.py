"""Replay in processes gives the verdicts of replay in one process, from files and from a query."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

import auditor
from audit import parallel, replay, sources
from infra.keys import KeyRing
from tests.auditor.rig import SampleRig, point_at, ring_text
from tests.auditor.sample import AuditSampleReordered
from tests.helpers.histories import all_saved, newest
from workflows.registry import ALL_WORKFLOWS

ROOT = Path(__file__).resolve().parents[2]
SAVED = all_saved()

# The production workflows plus an incompatible edit of the sample: the saved production
# histories replay, the sample's do not, so one run holds both verdicts.
REORDERED_AMONG_ALL = [*ALL_WORKFLOWS, AuditSampleReordered]
MIXED_SPEC = "tests.auditor.test_parallel:REORDERED_AMONG_ALL"


def _copies(folder: Path, rounds: int) -> list[Path]:
    """`rounds` copies of every saved history: more than one batch, so processes are used."""
    folder.mkdir(exist_ok=True)
    for n in range(rounds):
        for path in SAVED:
            shutil.copy(path, folder / f"{n}-{path.parent.name}-{path.name}")
    return sorted(folder.glob("*.json"))


def _verdicts(report: replay.ReplayReport | dict[str, Any]) -> tuple[int, list[str]]:
    found = report.as_json() if isinstance(report, replay.ReplayReport) else report
    return found["replayed"], sorted(json.dumps(f, sort_keys=True) for f in found["findings"])


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The job counts of the process pools started (the pool is made in this process)."""
    started: list[int] = []
    make = parallel._pool

    def counted(jobs: int, setup: Any) -> Any:
        started.append(jobs)
        return make(jobs, setup)

    monkeypatch.setattr(parallel, "_pool", counted)
    return started


async def test_processes_give_the_verdicts_of_one_process(
    ts_rig: SampleRig, keyring: KeyRing, tmp_path: Path, pools: list[int]
) -> None:
    workflow_id = await ts_rig.lifecycle("p1")
    encrypted = await sources.chain(ts_rig.client, workflow_id)
    for n, run in enumerate(encrypted):  # as exported from a server: encrypted payloads
        # with the workflow id in the start event, as servers since 1.21 write it (the
        # time-skipping server leaves it out): the payloads are bound to that id
        (tmp_path / f"export-{n}.json").write_text(await sources.saved_json(run, None))
    paths = _copies(tmp_path, 3)
    ring = partial(KeyRing.parse, ring_text(keyring))

    alone = await replay.replay_files(paths, REORDERED_AMONG_ALL, ring)
    spread = await parallel.replay_files(paths, REORDERED_AMONG_ALL, ring, jobs=2)

    assert pools == [2]
    assert _verdicts(spread) == _verdicts(alone)
    assert spread.replayed == len(paths)
    # Each copy of the saved sample and the first exported run diverge; nothing else does.
    sample = sources.from_file(newest("audit_sample.json")).workflow_id
    named = sorted((f.workflow_id, f.kind) for f in spread.findings)
    assert named == sorted([(sample, "nondeterminism")] * 3 + [(workflow_id, "nondeterminism")]), (
        spread.as_text()
    )


async def test_one_batch_is_replayed_in_this_process(tmp_path: Path, pools: list[int]) -> None:
    # one batch's worth, however large the corpus has grown
    paths = _copies(tmp_path, 1)[: parallel.BATCH]
    report = await parallel.replay_files(paths, REORDERED_AMONG_ALL, _no_key, jobs=2)
    assert pools == [] and _verdicts(report) == _verdicts(
        await replay.replay_files(paths, REORDERED_AMONG_ALL, _no_key)
    )


def _no_key() -> KeyRing:
    raise AssertionError("decrypted histories need no key ring")


def _auditor(*argv: str) -> subprocess.CompletedProcess[str]:
    # No key ring, server or database: the decrypted copies need none of them.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIENT_CARE_", "TEMPORAL_"))}
    env["DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:9/none"
    return subprocess.run(
        [sys.executable, str(ROOT / "auditor.py"), *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


def test_cli_replays_a_directory_in_processes_with_the_same_verdicts(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    paths = _copies(folder, 3)
    argv = ["replay", "--history-dir", str(folder), "--workflows", MIXED_SPEC, "--json"]

    one = _auditor(*argv, "--jobs", "1")
    two = _auditor(*argv, "--jobs", "2")
    every = _auditor(*argv)  # default: one process per core

    assert (one.returncode, two.returncode, every.returncode) == (1, 1, 1), two.stderr
    verdicts = _verdicts(json.loads(one.stdout))
    assert verdicts[0] == len(paths) and len(verdicts[1]) == 3
    assert _verdicts(json.loads(two.stdout)) == verdicts
    assert _verdicts(json.loads(every.stdout)) == verdicts

    assert _auditor("replay", "--history-dir", str(folder), "--jobs", "0").returncode == 2


async def test_query_replayed_in_processes_names_the_same_runs(
    dev_env: WorkflowEnvironment,
    dev_rig: SampleRig,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pools: list[int],
) -> None:
    point_at(cli_env, dev_env)
    runs = parallel.BATCH + 5  # more than one batch, one run each
    ids = await asyncio.gather(
        *(dev_rig.lifecycle(f"pq{n}", advances_per_run=10) for n in range(runs))
    )
    await dev_rig.listed(runs)
    argv = ["replay", "--query", dev_rig.query, "--json"]

    assert await auditor.run([*argv, "--workflows", "tests.auditor.sample:ORIGINAL"]) == 0
    assert json.loads(capsys.readouterr().out)["replayed"] == runs

    reordered = [*argv, "--workflows", "tests.auditor.sample:REORDERED"]
    assert await auditor.run([*reordered, "--jobs", "2"]) == auditor.EXIT_FINDINGS
    spread = json.loads(capsys.readouterr().out)
    assert await auditor.run([*reordered, "--jobs", "1"]) == auditor.EXIT_FINDINGS
    alone = json.loads(capsys.readouterr().out)

    assert pools == [parallel.default_jobs(), 2]
    assert _verdicts(spread) == _verdicts(alone)
    assert sorted(f["workflow_id"] for f in spread["findings"]) == sorted(ids)
