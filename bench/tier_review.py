"""Tier review at scale: one quarter's review of a whole book (100,000 clients by default) on the
dev server, run by `worker.py` as deployed.

The `clients` read model holds N clients. R of them (`--real`, 1,000) are onboarded
`ClientServiceWorkflow`s, parked on their timers, whose figures the transaction feed has since
raised to gold's minimums (their rows are updated as the feed's projection writes them). The
rest are rows alone: every 100th qualifies for gold too but has no running workflow, so the
review counts it `not_running`. The review is started as the schedule starts one (an explicit
review id) and timed to its result. With `--kill-at F` the worker is SIGKILLed once F of the
pages are done and a new one is started: the review must resume (its cursor travels through
continue-as-new, a signal batch resumes from its heartbeat) and nothing may be done twice.

Figures: minutes for the review, clients reviewed per second, its runs and their largest
history; then the checks: every client reviewed exactly once (the totals), one `tier_changes` row
per upgraded client, every real client at gold in the read model and in its workflow, and how
many `change_tier` signals each real client received (at least once by design: the group in
flight when an attempt dies is sent again, and the client ignores a review it has applied).

    .venv/bin/python bench/tier_review.py [--clients 100000] [--real 1000] [--kill-at 0.5]
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select, update
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError

from bench.common import Verdict, byte_compile, machine, parser, say
from bench.localstack import WorkerProcess, connect, local_stack
from bench.spring_festival import client_file
from commands.base import CommandContext
from commands.clients import onboard_file
from domain.enums import Tier
from domain.policy import Policy
from infra.concurrency import gather_bounded
from infra.database import make_engine
from projections.tables import clients, tier_changes
from workflows.client_service import ClientServiceWorkflow
from workflows.client_service.models import ClientView
from workflows.tier_review import TierReviewInput, TierReviewTotals, TierReviewWorkflow

GOLD = Policy().tiers.gold


def synthetic_rows(count: int, start: int = 0, prefix: str = "tr-s") -> list[dict[str, Any]]:
    """Clients the review reads but no workflow serves; every 100th qualifies for gold
    (`tests/workflows/test_tier_review_scale.py` seeds its book with these too)."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "client_id": f"{prefix}-{i:06d}",
            "workflow_id": f"client-{prefix}-{i:06d}",
            "seq": 1,
            "kind": "individual",
            "tier": "regular",
            "risk_profile": "balanced",
            "status": "active",
            "updated_at": at,
            "aum": GOLD.aum if i % 100 == 0 else Decimal(1000),
            "annual_contribution": GOLD.annual_contribution if i % 100 == 0 else Decimal(0),
            "transactions_12m": GOLD.transactions_12m if i % 100 == 0 else 0,
        }
        for i in range(start, start + count)
    ]


async def signals_received(client: Client, workflow_id: str) -> int:
    n = 0
    async for e in client.get_workflow_handle(workflow_id).fetch_history_events():
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            n += e.workflow_execution_signaled_event_attributes.signal_name == "change_tier"
    return n


async def main() -> int:
    p = parser(__doc__)
    p.add_argument("--clients", type=int, default=100_000, help="clients in the book")
    p.add_argument("--real", type=int, default=1000, help="of them, running client workflows")
    p.add_argument("--concurrency", type=int, default=16, help="onboardings in flight")
    p.add_argument(
        "--kill-at", type=float, default=None, help="SIGKILL the worker at this share of pages"
    )
    args = p.parse_args()
    if not 0 < args.real <= args.clients:
        p.error("--real: at least 1, at most --clients")
    byte_compile()
    workdir = args.workdir / "tier-review"
    workdir.mkdir(parents=True, exist_ok=True)
    policy = Policy()
    pages = args.clients // policy.tiers.review_page_size + 1
    async with local_stack(workdir) as ep:
        engine = make_engine(ep.database_url)
        client = await connect(ep)
        worker = WorkerProcess(ep, workdir, "worker")
        worker.start(TEMPORAL_WORKER_SET_CURRENT="always")
        restarts = 0
        try:
            ctx = CommandContext(
                client=client, engine=engine, policy=policy, task_queue=ep.task_queue
            )
            run = uuid.uuid4().hex[:6]
            real = [f"tr-r-{run}-{n:06d}" for n in range(args.real)]
            started = time.perf_counter()

            async def onboard(n: int) -> None:
                file = client_file(real[n], n)
                await onboard_file(
                    ctx, file, read_your_writes=False, update_id=f"onboard:{real[n]}"
                )

            await gather_bounded(list(range(args.real)), onboard, args.concurrency)
            say(f"{args.real:,} clients onboarded in {time.perf_counter() - started:,.0f} s")
            while True:  # their first projection rows, which the feed's update then overwrites
                with engine.connect() as conn:
                    seen = conn.execute(
                        select(func.count()).where(clients.c.client_id.in_(real))
                    ).scalar_one()
                if seen == args.real:
                    break
                await asyncio.sleep(1)
            with engine.begin() as conn:
                conn.execute(
                    update(clients)
                    .where(clients.c.client_id.in_(real))
                    .values(
                        aum=GOLD.aum,
                        annual_contribution=GOLD.annual_contribution,
                        transactions_12m=GOLD.transactions_12m,
                    )
                )
                rest = args.clients - args.real
                for start in range(0, rest, 10_000):
                    conn.execute(insert(clients), synthetic_rows(min(10_000, rest - start), start))
            unserved = len(range(0, args.clients - args.real, 100))
            say(f"book of {args.clients:,}: {args.real:,} running, {unserved:,} gold rows alone")

            review = f"tr-bench-{run}"
            t0 = time.perf_counter()
            handle = await client.start_workflow(
                TierReviewWorkflow.run,
                TierReviewInput(policy=policy, review_id=review),
                id=f"tier-review-{review}",
                task_queue=ep.task_queue,
            )
            if args.kill_at is not None:
                while True:
                    done = await handle.query(TierReviewWorkflow.progress)
                    if done.pages >= args.kill_at * pages:
                        say(f"SIGKILL at page {done.pages} of {pages}")
                        worker.kill()
                        worker.start(TEMPORAL_WORKER_SET_CURRENT="always")
                        restarts += 1
                        break
                    await asyncio.sleep(0.5)
            result = await handle.result()
            minutes = (time.perf_counter() - t0) / 60
            totals: TierReviewTotals = result.totals
            say(f"review done in {minutes:.1f} min: {totals}")

            runs: list[int] = []
            async for listed in client.list_workflows(f"WorkflowId = 'tier-review-{review}'"):
                history = await client.get_workflow_handle(
                    listed.id, run_id=listed.run_id
                ).fetch_history()
                runs.append(len(history.events))
            with engine.connect() as conn:
                rows = conn.execute(
                    select(tier_changes.c.client_id, func.count())
                    .where(tier_changes.c.review_id == review)
                    .group_by(tier_changes.c.client_id)
                ).all()
                at_gold = conn.execute(
                    select(func.count()).where(
                        clients.c.client_id.in_(real), clients.c.tier == Tier.GOLD.value
                    )
                ).scalar_one()

            async def view(cid: str) -> Tier:
                # a loaded machine answers a query late: ask again rather than fail the run
                for attempt in range(5):
                    try:
                        shown: ClientView = await client.get_workflow_handle(f"client-{cid}").query(
                            ClientServiceWorkflow.view, rpc_timeout=timedelta(seconds=30)
                        )
                        return shown.tier
                    except RPCError:
                        if attempt == 4:
                            raise
                        await asyncio.sleep(2)
                raise AssertionError("unreachable")

            tiers = Counter(await gather_bounded(real, view, 8))
            received = await gather_bounded(
                [f"client-{c}" for c in real], lambda w: signals_received(client, w), 8
            )
        finally:
            worker.stop()
            engine.dispose()

    verdict = Verdict()
    upgraded = args.real + unserved
    verdict.check(
        f"every client reviewed once ({totals.reviewed:,})", totals.reviewed == args.clients
    )
    verdict.check(
        f"upgraded {totals.upgraded:,} = {upgraded:,}, "
        f"not running {totals.not_running:,} = {unserved:,}",
        (totals.upgraded, totals.not_running) == (upgraded, unserved),
    )
    verdict.check(
        "one tier_changes row per upgraded client",
        len(rows) == upgraded and all(n == 1 for _, n in rows),
    )
    verdict.check(f"every real client at gold: read model {at_gold:,}", at_gold == args.real)
    verdict.check(
        f"every real client at gold: workflow {dict(tiers)}",
        tiers == Counter({Tier.GOLD: args.real}),
    )
    verdict.check("every real client signalled", min(received, default=0) >= 1)
    return verdict.report(
        "Tier review at scale",
        {
            **machine(),
            "book": f"{args.clients:,} clients, {args.real:,} running workflows, "
            f"page {policy.tiers.review_page_size}",
            "review": f"{minutes:.1f} min, {args.clients / (minutes * 60):,.0f} clients/s, "
            f"{totals.pages} pages",
            "runs (continue-as-new)": f"{len(runs)}, largest {max(runs, default=0):,} events",
            "worker SIGKILLed and replaced": f"{restarts} time(s) at {args.kill_at} of the pages"
            if restarts
            else "no",
            "real clients by change_tier signals received": dict(sorted(Counter(received).items())),
        },
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
