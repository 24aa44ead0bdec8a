"""Cadence at scale: many clients parked on their timers, and what a year of service costs.

1. N `ClientServiceWorkflow`s are onboarded through `client onboard` and left parked on their
   next-service timers, served by `worker.py` running as a process of its own (as deployed), so
   its resident memory can be read before and after. Prints the time to start them and the
   worker's RSS growth per parked workflow. (The SDK caches at most 1,000 workflows per worker
   by default; past that, a parked workflow costs the worker nothing until its timer fires.)
2. A few clients of every tier run a simulated year (or more) on the time-skipping server with
   the production worker in-process; their histories give events per client-year. Target: no
   single run reaches 4,096 events (the workflow continues as new well before).

    .venv/bin/python bench/cadence_scale.py [--clients 10000] [--years 2]
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
from temporalio.testing import WorkflowEnvironment

from activities.deps import ActivityDeps
from audit.sources import chain
from bench.common import Verdict, machine, parser, say
from bench.localstack import Endpoints, WorkerProcess, connect, local_stack
from commands.base import CommandContext
from commands.clients import onboard
from domain.enums import Tier
from domain.policy import Policy
from domain.questionnaire import questionnaire_json
from infra.binaries import temporal_test_server
from infra.database import make_engine
from infra.keys import KeyRing
from infra.temporal import data_converter, register_search_attributes
from projections.crypto import FieldCipher
from worker import build_worker
from workflows import search_attributes

MAX_EVENTS_PER_RUN = 4096
POLICY = Policy()


def client_body(client_id: str, tier: Tier, n: int) -> dict[str, Any]:
    threshold = POLICY.tiers.threshold(tier)
    metrics = (
        {"aum": "1000", "annual_contribution": "10", "transactions_12m": 0}
        if threshold is None
        else {
            "aum": str(threshold.aum),
            "annual_contribution": str(threshold.annual_contribution),
            "transactions_12m": threshold.transactions_12m,
        }
    )
    questions = questionnaire_json()["questions"]
    return {
        "client_id": client_id,
        "kind": "individual",
        "basic": {
            "name": "Bench Client",
            "birth_date": f"19{60 + n % 40}-{1 + n % 12:02d}-{1 + n % 28:02d}",
            "phone": "13800138000",
        },
        "metrics": metrics,
        "advisor_id": f"adv-{n % 12:02d}",
        "consents": {"granted": {"sms": ["service"], "email": ["care"]}},
        "risk_answers": [n % len(q["options"]) for q in questions],
    }


def tier_of(n: int) -> Tier:
    return (Tier.DIAMOND, Tier.PLATINUM, Tier.GOLD, Tier.REGULAR, Tier.REGULAR)[n % 5]


def settle(pid: int, quiet_for: int = 3, cap: float = 600) -> None:
    """Waits until the worker has had nothing to do for `quiet_for` seconds."""
    proc, quiet, deadline = psutil.Process(pid), 0, time.monotonic() + cap
    while quiet < quiet_for and time.monotonic() < deadline:
        quiet = quiet + 1 if proc.cpu_percent(interval=1.0) < 5 else 0


async def park(ep: Endpoints, workdir: Path, count: int, concurrency: int) -> dict[str, Any]:
    worker = WorkerProcess(ep, workdir, "cadence-worker")
    worker.start()
    try:
        await asyncio.to_thread(settle, worker.pid)
        before = psutil.Process(worker.pid).memory_info().rss
        client = await connect(ep)
        # Onboarding seals each client's fields under a key kept in the read models' database.
        engine = make_engine(ep.database_url)
        ctx = CommandContext(
            client=client, policy=POLICY, task_queue=ep.task_queue, engine=engine, settle_within=0
        )
        run = uuid.uuid4().hex[:6]
        numbers, done = iter(range(count)), 0

        # `concurrency` lanes share one iterator rather than one task per client behind a
        # semaphore: at 100,000 clients, cancelling that many waiters after a failure is
        # quadratic in asyncio and hangs the script instead of reporting the error.
        async def lane() -> None:
            nonlocal done
            for n in numbers:
                await onboard(ctx, None, client_body(f"cad-{run}-{n:06d}", tier_of(n), n))
                done += 1
                if done % 500 == 0 or done == count:
                    say(f"  {done:,}/{count:,} clients onboarded")

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        await asyncio.to_thread(settle, worker.pid)
        after = psutil.Process(worker.pid).memory_info().rss
        query = f"WorkflowType='ClientServiceWorkflow' AND ClientId STARTS_WITH 'cad-{run}-'"
        parked = (await client.count_workflows(query + " AND ExecutionStatus='Running'")).count
    finally:
        worker.stop()
    return {
        "clients onboarded": f"{count:,} in {elapsed:,.1f} s ({count / elapsed:,.1f}/s, "
        f"{concurrency} at once)",
        "parked (running, waiting on a timer)": f"{parked:,}",
        "worker RSS": f"{before / 2**20:,.1f} MiB before, {after / 2**20:,.1f} MiB after",
        "worker RSS growth per parked workflow": f"{(after - before) / count / 1024:,.2f} KiB "
        f"(per cached workflow, at most 1,000 cached: "
        f"{(after - before) / min(count, 1000) / 1024:,.2f} KiB)",
        "_parked": parked,
    }


async def client_years(url: str, keyring: KeyRing, years: int, per_tier: int) -> dict[str, Any]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(keyring), test_server_existing_path=temporal_test_server()
    )
    await register_search_attributes(env.client, search_attributes.ALL)
    engine = make_engine(url)
    deps = ActivityDeps(engine=engine, cipher=FieldCipher(keyring))
    queue = f"years-{uuid.uuid4().hex[:6]}"
    ctx = CommandContext(client=env.client, policy=POLICY, task_queue=queue, engine=engine)
    ids = [f"yr-{tier.value}-{i}" for tier in Tier for i in range(per_tier)]
    try:
        with ThreadPoolExecutor(16) as pool:
            async with build_worker(env.client, queue, deps, pool):
                for n, client_id in enumerate(ids):
                    tier = Tier(client_id.split("-")[1])
                    await onboard(ctx, None, client_body(client_id, tier, n))
                say(f"simulating {years} year(s) of service for {len(ids)} clients")
                await env.sleep(timedelta(days=365 * years + 1))
                runs = {cid: await chain(env.client, f"client-{cid}") for cid in ids}
    finally:
        await env.shutdown()
        engine.dispose()
    per_year = {cid: sum(len(h.events) for h in hs) / years for cid, hs in runs.items()}
    longest = max(len(h.events) for hs in runs.values() for h in hs)
    by_tier = {
        tier.value: max(v for cid, v in per_year.items() if cid.split("-")[1] == tier.value)
        for tier in Tier
    }
    return {
        "events per client-year (max by tier)": ", ".join(
            f"{t} {v:,.0f}" for t, v in by_tier.items()
        ),
        "runs per client": f"{min(map(len, runs.values()))}-{max(map(len, runs.values()))} "
        f"over {years} year(s)",
        "longest single run": f"{longest:,} events",
        "_longest": longest,
    }


async def main() -> int:
    p = parser(__doc__)
    p.add_argument("--clients", type=int, default=10_000, help="clients to onboard and park")
    p.add_argument("--concurrency", type=int, default=50, help="onboardings in flight at once")
    p.add_argument("--years", type=int, default=2, help="simulated years of service (0: park only)")
    p.add_argument("--per-tier", type=int, default=2, help="simulated clients per tier")
    args = p.parse_args()
    async with local_stack(args.workdir / "cadence") as ep:
        say(f"onboarding {args.clients:,} clients against worker.py in its own process")
        parked = await park(ep, args.workdir / "cadence", args.clients, args.concurrency)

        year: dict[str, Any] = {}
        if args.years > 0:
            year = await client_years(ep.database_url, ep.keyring, args.years, args.per_tier)
    verdict = Verdict()
    verdict.check(f"all {args.clients:,} clients parked", parked.pop("_parked") == args.clients)
    if year:
        longest = year.pop("_longest")
        verdict.check(
            f"longest run {longest:,} events (target < {MAX_EVENTS_PER_RUN:,}: continue-as-new)",
            longest < MAX_EVENTS_PER_RUN,
        )
    return verdict.report("cadence at scale", {**machine(), **parked, **year})


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
