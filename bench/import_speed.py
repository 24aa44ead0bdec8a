"""Clients onboarded per second by `client import FILE` against a bare update-with-start.

Both sides run in this process against the same dev server, each with its own worker here, the
same rows and the same number in flight (`--concurrency`), alternating rounds:

- import: `commands.client_import.run` (what `starter.py client import FILE` runs) on a JSON
  Lines file of fresh clients: the file read and validated, one visibility query per batch,
  `client onboard`'s update-with-start per row, the production worker with its projections in
  PostgreSQL, encrypted payloads;
- bare: `execute_update_with_start_workflow` of `bench.bare.BareClient` (an empty workflow whose
  update answers at once) with the same bodies, plain payloads.

Target: the import onboards at least 0.5 x as many clients per second as the bare
update-with-start. Also printed, not judged: the rate of a re-run of an imported file (every row
skipped after the visibility check).

    .venv/bin/python bench/import_speed.py [--clients 500] [--concurrency 32]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

from activities.deps import ActivityDeps
from bench.bare import BareClient
from bench.cadence_scale import client_body, tier_of
from bench.common import Rate, Verdict, byte_compile, machine, parser, say, side_by_side
from bench.localstack import connect, local_stack
from commands import client_import
from commands.base import CommandContext
from domain.policy import Policy
from infra.database import make_engine
from projections.crypto import FieldCipher
from worker import build_worker

TARGET = 0.5
WORKER_THREADS = 32


def write_file(folder: Path, count: int) -> tuple[Path, list[dict[str, Any]]]:
    """A JSON Lines file of `count` fresh clients (every tier), and its bodies."""
    run = uuid.uuid4().hex[:6]
    bodies = [client_body(f"imp-{run}-{n:06d}", tier_of(n), n) for n in range(count)]
    path = folder / f"clients-{run}.jsonl"
    path.write_text("".join(json.dumps(b) + "\n" for b in bodies), encoding="utf-8")
    return path, bodies


async def import_side(ctx: CommandContext, path: Path, expected: int) -> int:
    summary = await client_import.run(ctx, str(path), {})
    assert summary["onboarded"] == expected and not summary["refused"], summary
    return int(summary["onboarded"])


async def bare_side(client: Client, queue: str, bodies: list[dict[str, Any]], limit: int) -> int:
    gate = asyncio.Semaphore(limit)

    async def one(body: dict[str, Any]) -> None:
        async with gate:
            start = WithStartWorkflowOperation(
                BareClient.run,
                id=f"bare-client-{body['client_id']}",
                task_queue=queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            await client.execute_update_with_start_workflow(
                BareClient.onboard, body, start_workflow_operation=start
            )

    await asyncio.gather(*(one(b) for b in bodies))
    return len(bodies)


async def listed(client: Client, prefix: str, count: int, cap: float = 300) -> None:
    """Waits until visibility lists `count` clients whose id starts with `prefix`."""
    query = f"WorkflowType='ClientServiceWorkflow' AND ClientId STARTS_WITH '{prefix}'"
    for _ in range(int(cap / 0.5)):
        if (await client.count_workflows(query)).count >= count:
            return
        await asyncio.sleep(0.5)


async def main() -> int:
    p = parser(__doc__)
    p.add_argument("--clients", type=int, default=500, help="rows per round and side")
    p.add_argument("--concurrency", type=int, default=32, help="onboardings in flight at once")
    args = p.parse_args()
    byte_compile()
    folder = args.workdir / "import"
    folder.mkdir(parents=True, exist_ok=True)
    imported = Rate("client import: validate, check, onboard, project", "clients")
    bare = Rate("bare: update-with-start of an empty workflow", "clients")
    rerun = Rate("client import again: every row skipped (not judged)", "rows")
    async with local_stack(folder) as ep:
        client = await connect(ep)
        plain = await Client.connect(ep.temporal_address, namespace=ep.namespace)
        engine = make_engine(ep.database_url)
        deps = ActivityDeps(engine=engine, cipher=FieldCipher(ep.keyring))
        queue, bare_queue = f"import-{uuid.uuid4().hex[:6]}", f"bare-{uuid.uuid4().hex[:6]}"
        ctx = CommandContext(
            client=client,
            policy=Policy(),
            task_queue=queue,
            engine=engine,
            concurrency=args.concurrency,
        )
        n = args.clients
        files = [write_file(folder, n) for _ in range(args.rounds)]
        with ThreadPoolExecutor(WORKER_THREADS) as pool:
            async with (
                build_worker(client, queue, deps, pool),
                Worker(plain, task_queue=bare_queue, workflows=[BareClient]),
            ):
                say("warming up both workers")
                warm_path, warm_bodies = write_file(folder, 10)
                await import_side(ctx, warm_path, 10)
                await bare_side(plain, bare_queue, warm_bodies, args.concurrency)
                rounds = iter(files)
                bare_rounds = iter(files)

                async def next_import() -> int:
                    path, bodies = next(rounds)
                    return await import_side(ctx, path, len(bodies))

                async def next_bare() -> int:
                    _, bodies = next(bare_rounds)
                    return await bare_side(plain, bare_queue, bodies, args.concurrency)

                await side_by_side([(imported, next_import), (bare, next_bare)], args.rounds)
                path, bodies = files[0]
                await listed(client, bodies[0]["client_id"][:10], n)
                started = time.perf_counter()
                again = await client_import.run(ctx, str(path), {})
                rerun.add(again["skipped"], time.perf_counter() - started)
                skipped_all = again["skipped"] == n and again["onboarded"] == 0
        engine.dispose()
    verdict = Verdict()
    verdict.ratio("client import / bare update-with-start", imported, bare, TARGET)
    verdict.check(f"a re-run skips every row ({rerun.done:,} of {n:,})", skipped_all)
    facts = {
        **machine(),
        "rows per round and side": f"{n:,}",
        "in flight": args.concurrency,
        "rates": "\n" + "\n".join(r.line() for r in (imported, bare, rerun)),
    }
    return verdict.report("client import", facts)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
