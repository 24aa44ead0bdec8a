"""A successful `starter.py` or `auditor.py` exits 0, every time.

The SDK's core runtime runs Tokio threads that call into Python; one still running when the
interpreter finalises aborts a process that has already printed its answer (SIGABRT, exit 134,
temporalio/sdk-python#300). The first tests look at the cause, deterministically: no core
thread is left when the interpreter starts finalising. The last counts exits over many
processes against the dev server, as a caller sees them (`bench/exit_codes.py` runs 300).
"""

from __future__ import annotations

import json
import os
import textwrap
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from activities.deps import ActivityDeps
from bench.exit_codes import command_mix, intake, run_many, run_one
from commands.base import CommandContext
from commands.complaints import COMMANDS
from domain.policy import Policy
from infra.keys import KeyRing
from infra.settings import ROOT
from projections.crypto import FieldCipher
from tests.auditor.rig import ring_text
from tests.helpers.histories import newest
from worker import build_worker

SAMPLE = newest("audit_sample.json")

# Runs an entry point as `python ENTRY ...` would (runpy, `__main__`), and when the interpreter
# starts finalising (atexit runs first thing) prints the names of the threads still alive.
PROBE = textwrap.dedent(
    """
    import atexit, os, runpy, sys

    def threads():
        names = [open(f"/proc/self/task/{t}/comm").read().strip()
                 for t in os.listdir("/proc/self/task")]
        print("THREADS-AT-EXIT " + ",".join(sorted(names)), file=sys.stderr)

    atexit.register(threads)
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
    """
)


def offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIENT_CARE_", "TEMPORAL_"))}
    env["DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:9/none"
    env["LOG_FORMAT"] = "json"
    return env


async def threads_at_exit(argv: list[str], env: dict[str, str]) -> tuple[int, list[str], str]:
    outcome = await run_one(["-c", PROBE, *argv], env, ROOT)
    lines = [ln for ln in outcome.stderr.splitlines() if ln.startswith("THREADS-AT-EXIT ")]
    assert lines, outcome.stderr
    return outcome.returncode, lines[-1].split(" ", 1)[1].split(","), outcome.stderr


@pytest.mark.parametrize(
    "argv",
    [
        [str(ROOT / "starter.py"), "client", "questionnaire"],
        [
            str(ROOT / "auditor.py"),
            "replay",
            "--history-file",
            str(SAMPLE),
            "--workflows",
            "tests.auditor.sample:ORIGINAL",
        ],
    ],
    ids=["starter", "auditor"],
)
async def test_no_core_thread_is_left_when_the_interpreter_finalises(argv: list[str]) -> None:
    code, threads, stderr = await threads_at_exit(argv, offline_env())
    assert code == 0, stderr
    assert not [t for t in threads if t.startswith("tokio")], threads


@pytest.fixture
async def served(
    dev_env: WorkflowEnvironment, db: Engine, pg_url: str, keyring: KeyRing
) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """One open complaint on the dev server with a production worker; the id and the
    environment a command process needs to read it."""
    queue = f"exit-codes-{uuid.uuid4().hex[:8]}"
    deps = ActivityDeps(engine=db, cipher=FieldCipher(keyring))
    with ThreadPoolExecutor(max_workers=8) as pool:
        async with build_worker(dev_env.client, queue, deps, pool):
            ctx = CommandContext(client=dev_env.client, policy=Policy(), task_queue=queue)
            opened = await COMMANDS["open"](ctx, None, intake())
            env = {
                **offline_env(),
                "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
                "TEMPORAL_TASK_QUEUE": queue,
                "CLIENT_CARE_KEYS": ring_text(keyring),
                "DATABASE_URL": pg_url,
            }
            yield str(opened["complaint_id"]), env


async def test_a_command_against_the_server_leaves_no_core_thread(
    served: tuple[str, dict[str, str]],
) -> None:
    complaint_id, env = served
    argv = [str(ROOT / "starter.py"), "complaint", "show", complaint_id]
    code, threads, stderr = await threads_at_exit(argv, env)
    assert code == 0, stderr
    assert not [t for t in threads if t.startswith("tokio")], threads


async def test_forty_successful_commands_all_exit_zero(
    served: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    complaint_id, env = served
    outcomes = await run_many(command_mix(complaint_id, 40), env, tmp_path, parallel=4)
    failed = [o.signature for o in outcomes if o.returncode != 0]
    assert failed == [], f"{len(failed)} of {len(outcomes)} exited non-zero"
    shown = [json.loads(o.stdout) for o in outcomes if o.argv[1:3] == ("complaint", "show")]
    assert {s["complaint_id"] for s in shown} == {complaint_id}
