"""Histories replayed per second: `auditor.py replay` against the SDK's bare `Replayer`,
in one process and in one process per core.

The histories are real: complaint lifecycles (open → assess → investigate → resolve →
follow-up 5) run here on a dev server by the production worker, fetched (encrypted, as the
server keeps them) and saved as JSON, the form `auditor.py replay --history-file` reads. They
are kept under --workdir with the throwaway key ring that encrypted them, and reused by the next
run. Both sides read and parse the same files and replay every history against
`workflows.registry.ALL_WORKFLOWS` with the project's decrypting converter:

- audit: `audit.replay.replay_files` in this process (`auditor.py replay --jobs 1`);
- audit in processes: `audit.parallel.replay_files` with `--jobs` processes (default: one per
  core), what `auditor.py replay --history-dir` runs; starting the processes is timed too;
- bare: `WorkflowHistory.from_json` and `temporalio.worker.Replayer.workflow_replay_iterator`,
  in this process.

Targets: the auditor in one process replays at least 0.8 x as many histories per second as the
bare Replayer; in one process per core (2 here), at least 1.6 x.

    .venv/bin/python bench/replay_speed.py [--histories 1000] [--jobs N]
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from activities.deps import ActivityDeps
from audit import parallel
from audit.replay import ReplayReport, replay_files, replay_namespace
from audit.sources import from_list
from bench.common import Rate, Verdict, machine, parser, say, side_by_side
from bench.complaint_throughput import bounded, full_lifecycle
from bench.localstack import connect, local_stack
from commands.base import CommandContext
from domain.policy import Policy
from infra.database import make_engine
from infra.keys import KeyRing
from infra.temporal import data_converter
from projections.crypto import FieldCipher
from worker import build_worker
from workflows.registry import ALL_WORKFLOWS

TARGET = 0.8
TARGET_PROCESSES = 1.6


async def generate(client: Client, url: str, keyring: KeyRing, count: int, out: Path) -> None:
    """Runs `count` complaint lifecycles and saves each complaint's history as JSON, a hundred
    at a time: on a busy machine a run that fails part-way keeps what it saved, and the next
    run generates only the rest."""
    engine = make_engine(url)
    deps = ActivityDeps(engine=engine, cipher=FieldCipher(keyring))
    queue = f"replay-bench-{uuid.uuid4().hex[:6]}"
    ctx = CommandContext(client=client, policy=Policy(), task_queue=queue, engine=engine)
    done = saved = 0

    async def one() -> None:
        nonlocal done
        await full_lifecycle(ctx)
        done += 1
        if done % 50 == 0 or done == count:
            say(f"  {done:,}/{count:,} complaint lifecycles")

    with ThreadPoolExecutor(32) as pool:
        async with build_worker(client, queue, deps, pool):
            while done < count:
                await bounded(min(100, count - done), 10, one)
                query = f"TaskQueue='{queue}' AND WorkflowType='ComplaintWorkflow'"
                async for execution in client.list_workflows(query):
                    file = out / f"{execution.id}.json"
                    if not file.exists():
                        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
                        file.write_text((await handle.fetch_history()).to_json())
                        saved += 1
    engine.dispose()
    say(f"saved {saved:,} histories in {out}")


def saved(folder: Path, count: int) -> tuple[list[Path], str | None]:
    """Up to `count` saved histories, and the key ring they were saved under (if any)."""
    folder.mkdir(parents=True, exist_ok=True)
    ring_file = folder / "keys"
    return sorted(folder.glob("*.json"))[:count], (
        ring_file.read_text() if ring_file.exists() else None
    )


def keep_ring(folder: Path, keys: str) -> None:
    ring_file = folder / "keys"  # a throwaway benchmark key: it encrypts nothing else
    ring_file.write_text(keys)
    ring_file.chmod(0o600)


async def histories(workdir: Path, count: int) -> tuple[list[Path], str]:
    """The saved histories, generated first when fewer than `count` are there, and the text of
    the key ring that opens them."""
    folder = workdir / "replay" / "histories"
    paths, keys = saved(folder, count)
    if len(paths) >= count and keys is not None:
        say(f"reusing {count:,} histories saved in {folder}")
        return paths, keys
    # New histories go under the ring of those already saved, so one ring opens them all.
    env = {**os.environ, **({"CLIENT_CARE_KEYS": keys} if keys else {})}
    async with local_stack(workdir / "replay", env) as ep:
        keep_ring(folder, ep.keys)
        say(f"generating {count - len(paths):,} histories (complaint lifecycles on the dev server)")

        await generate(await connect(ep), ep.database_url, ep.keyring, count - len(paths), folder)
        return saved(folder, count)[0], ep.keys


def replayed(report: ReplayReport, verdicts: list[ReplayReport]) -> int:
    """The report's count; every round's report is kept, to compare the sides' verdicts."""
    verdicts.append(report)
    return report.replayed


async def audit_side(paths: list[Path], keys: str, verdicts: list[ReplayReport]) -> int:
    report = await replay_files(paths, ALL_WORKFLOWS, partial(KeyRing.parse, keys))
    return replayed(report, verdicts)


async def processes_side(
    paths: list[Path], keys: str, jobs: int, verdicts: list[ReplayReport]
) -> int:
    # A partial of a module-level function: it pickles, so each process opens the ring itself.
    ring = partial(KeyRing.parse, keys)
    return replayed(await parallel.replay_files(paths, ALL_WORKFLOWS, ring, jobs), verdicts)


async def bare_side(paths: list[Path], keyring: KeyRing) -> int:
    loaded = [WorkflowHistory.from_json(p.stem, json.loads(p.read_text())) for p in paths]
    # the namespace the auditor replays exports in (audit.replay.replay_namespace)
    replayer = Replayer(
        workflows=ALL_WORKFLOWS,
        data_converter=data_converter(keyring),
        namespace=replay_namespace(),
    )
    replayed = 0
    async with replayer.workflow_replay_iterator(from_list(loaded)) as results:
        async for result in results:
            assert result.replay_failure is None, result.replay_failure
            replayed += 1
    return replayed


async def main() -> int:
    p = parser(__doc__)
    p.add_argument("--histories", type=int, default=1000, help="how many histories to replay")
    p.add_argument(
        "--jobs",
        type=int,
        default=parallel.default_jobs(),
        help="replay processes of the auditor's parallel side (default: one per core, %(default)s)",
    )
    args = p.parse_args()
    paths, keys = await histories(args.workdir, args.histories)
    keyring = KeyRing.parse(keys)
    alone: list[ReplayReport] = []
    spread: list[ReplayReport] = []
    audit = Rate("auditor, 1 process: audit.replay.replay_files", "histories")
    procs = Rate(f"auditor, {args.jobs} processes: audit.parallel.replay_files", "histories")
    bare = Rate("bare: temporalio.worker.Replayer, 1 process", "histories")
    await side_by_side(
        [
            (audit, lambda: audit_side(paths, keys, alone)),
            (procs, lambda: processes_side(paths, keys, args.jobs, spread)),
            (bare, lambda: bare_side(paths, keyring)),
        ],
        args.rounds,
    )
    verdict = Verdict()
    verdict.ratio("auditor, 1 process / bare Replayer", audit, bare, TARGET)
    verdict.ratio(f"auditor, {args.jobs} processes / bare Replayer", procs, bare, TARGET_PROCESSES)
    verdicts = {json.dumps(r.as_json(), sort_keys=True) for r in alone + spread}
    verdict.check(
        f"same verdicts in 1 and {args.jobs} processes, every round "
        f"({spread[0].replayed:,} replayed, {len(spread[0].findings)} findings)",
        len(verdicts) == 1 and spread[0].replayed == len(paths) and spread[0].ok,
    )
    facts = {
        **machine(),
        "histories": f"{len(paths):,} complaint histories (encrypted JSON files)",
        "rates": "\n" + "\n".join(r.line() for r in (audit, procs, bare)),
    }
    return verdict.report("history replay", facts)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
