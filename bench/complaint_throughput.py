"""Complaint lifecycles per second: Client Care's full path against a bare workflow.

Full path: `complaint open` → assess → investigate (done) → resolve → follow-up 5, through the
command functions, with the production worker in-process (`worker.build_worker`: every workflow
and activity, projections written to PostgreSQL, payloads AES-GCM encrypted). Baseline: the
same five updates on `bench.bare.BareComplaint`, each waiting on a no-op activity. Target: the
full path runs at least half as many lifecycles per second as the baseline.

    .venv/bin/python bench/complaint_throughput.py [--lifecycles 100] [--concurrency 20]
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.client import Client
from temporalio.worker import Worker

from activities.deps import ActivityDeps
from bench.bare import BareComplaint, noop
from bench.common import Rate, Verdict, byte_compile, machine, parser, say, side_by_side
from bench.localstack import connect, local_stack
from commands.base import CommandContext
from commands.complaints import COMMANDS
from domain.policy import Policy
from infra.database import make_engine
from projections.crypto import FieldCipher
from worker import build_worker

TARGET = 0.8  # issue 17 (it was 0.5, the first version's)
WORKER_THREADS = 32


def steps() -> list[tuple[str, dict[str, Any]]]:
    due = (datetime.now(UTC) + timedelta(days=14)).date().isoformat()
    return [
        (
            "assess",
            {"category": "fees", "severity": "medium", "department": "ops", "handler": "h-1"},
        ),
        (
            "investigate",
            {"findings": "fee table v3 applied to v2", "evidence": ["stmt"], "done": True},
        ),
        ("resolve", {"measures": "refund the difference", "owner": "h-1", "due": due}),
        ("follow-up", {"satisfaction": 5, "comment": "refund received"}),
    ]


def intake() -> dict[str, Any]:
    return {
        "client_id": f"cb-{uuid.uuid4().hex[:8]}",
        "channel": "hotline",
        "content": "The fund's fees were higher than I was told at purchase.",
        "complainant": {"name": "Li Lei", "phone": "+86 138 0013 8000"},
    }


async def bounded(n: int, concurrency: int, one: Any) -> int:
    gate = asyncio.Semaphore(concurrency)

    async def guarded() -> None:
        async with gate:
            await one()

    await asyncio.gather(*(guarded() for _ in range(n)))
    return n


async def full_lifecycle(ctx: CommandContext) -> str:
    """One complaint through to closed; its workflow id."""
    opened = await COMMANDS["open"](ctx, None, intake())
    for verb, body in steps():
        answer = await COMMANDS[verb](ctx, opened["complaint_id"], body)
    assert answer["stage"] == "closed", answer
    return str(opened["workflow_id"])


async def bare_lifecycle(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(
        BareComplaint.run, id=f"bare-{uuid.uuid4().hex}", task_queue=task_queue
    )
    await handle.execute_update(BareComplaint.acknowledgement)
    for verb, body in steps():
        await handle.execute_update(verb.replace("-", "_"), body)


async def main() -> int:
    p = parser(__doc__)
    p.add_argument("--lifecycles", type=int, default=100, help="per round and side")
    p.add_argument("--concurrency", type=int, default=20, help="lifecycles in flight at once")
    args = p.parse_args()
    byte_compile()
    async with local_stack(args.workdir / "complaints") as ep:
        client = await connect(ep)
        plain = await Client.connect(ep.temporal_address, namespace=ep.namespace)
        engine = make_engine(ep.database_url)
        deps = ActivityDeps(engine=engine, cipher=FieldCipher(ep.keyring))
        queue, bare_queue = f"bench-{uuid.uuid4().hex[:6]}", f"bare-{uuid.uuid4().hex[:6]}"
        ctx = CommandContext(client=client, policy=Policy(), task_queue=queue, engine=engine)
        full = Rate("Client Care: commands, projections, encryption", "lifecycles")
        bare = Rate("bare: same 5 updates, no-op activities", "lifecycles")
        with (
            ThreadPoolExecutor(WORKER_THREADS) as pool,
            ThreadPoolExecutor(WORKER_THREADS) as bare_pool,
        ):
            async with (
                build_worker(client, queue, deps, pool),
                Worker(
                    plain,
                    task_queue=bare_queue,
                    workflows=[BareComplaint],
                    activities=[noop],
                    activity_executor=bare_pool,
                    max_concurrent_activities=WORKER_THREADS,
                ),
            ):
                say("warming up both workers")
                await bounded(5, 5, partial(full_lifecycle, ctx))
                await bounded(5, 5, partial(bare_lifecycle, plain, bare_queue))
                n, c = args.lifecycles, args.concurrency
                await side_by_side(
                    [
                        (full, partial(bounded, n, c, partial(full_lifecycle, ctx))),
                        (bare, partial(bounded, n, c, partial(bare_lifecycle, plain, bare_queue))),
                    ],
                    args.rounds,
                )
        engine.dispose()
    verdict = Verdict()
    verdict.ratio("full path / bare", full, bare, TARGET)
    facts = {
        **machine(),
        "lifecycles per round and side": args.lifecycles,
        "in flight": args.concurrency,
        "rates": "\n" + full.line() + "\n" + bare.line(),
    }
    return verdict.report("complaint lifecycles per second", facts)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
