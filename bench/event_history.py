"""A client event over a large segment: how big its histories grow.

A seminar for the whole book invites every client with consent, takes attendance and records the
rest absent. Before the history was bounded (issue 14) one run held every invitee in its state
and every page in its history, ~9 MB for 100,000 clients. This seeds N clients straight into the
read model (the invitations read only that), runs `ClientEventWorkflow` on the time-skipping
server with the production worker in-process, records attendance for some, closes it, and
measures every run of the chain: events and bytes per run, and in all. Target: no run over
4,096 events or 2 MiB, whatever N (it continues as new every `pages_per_run` pages).

    .venv/bin/python bench/event_history.py [--clients 100000]
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select
from temporalio.api.history.v1 import History
from temporalio.testing import WorkflowEnvironment

from activities.deps import ActivityDeps
from audit.sources import chain
from bench.common import Verdict, machine, parser, say
from bench.localstack import local_stack
from commands.base import CommandContext
from commands.events import COMMANDS
from domain.policy import Policy
from infra.binaries import temporal_test_server
from infra.database import make_engine
from infra.temporal import data_converter, register_search_attributes
from projections.crypto import FieldCipher
from projections.tables import clients
from worker import build_worker
from workflows import search_attributes

MAX_EVENTS_PER_RUN = 4096
MAX_BYTES_PER_RUN = 2 * 2**20


def seed(engine: Any, run: str, count: int) -> list[str]:
    """Active clients with event consent, every fifth without (recorded `suppressed`)."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [f"ev-{run}-{n:06d}" for n in range(count)]
    with engine.begin() as conn:
        for start in range(0, count, 5000):
            rows = [
                {
                    "client_id": cid,
                    "workflow_id": f"client-{cid}",
                    "seq": 1,
                    "kind": "individual",
                    "tier": "gold",
                    "risk_profile": "balanced",
                    "status": "active",
                    "consents": {"granted": {"sms": ["care"] if n % 5 == 0 else ["events"]}},
                    "do_not_contact": False,
                    "updated_at": now,
                }
                for n, cid in enumerate(ids[start : start + 5000], start)
            ]
            conn.execute(insert(clients), rows)
    return ids


async def measure(url: str, keyring: Any, count: int) -> dict[str, Any]:
    engine = make_engine(url)
    run = uuid.uuid4().hex[:6]
    ids = seed(engine, run, count)
    with engine.connect() as conn:  # a reused workdir keeps earlier runs' clients: all invited
        segment = conn.execute(
            select(func.count()).select_from(clients).where(clients.c.tier == "gold")
        ).scalar_one()
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(keyring), test_server_existing_path=temporal_test_server()
    )
    await register_search_attributes(env.client, search_attributes.ALL)
    deps = ActivityDeps(engine=engine, cipher=FieldCipher(keyring))
    queue = f"events-{run}"
    ctx = CommandContext(client=env.client, policy=Policy(), task_queue=queue, engine=engine)
    event_id = f"ev-{run}"
    try:
        with ThreadPoolExecutor(16) as pool:
            async with build_worker(env.client, queue, deps, pool):
                starts = await env.get_current_time() + timedelta(days=30)
                started = time.perf_counter()
                await COMMANDS["create"](
                    ctx, None,
                    {"event_id": event_id, "kind": "seminar", "title": "Outlook",
                     "starts_at": starts.isoformat(), "segment": {"tiers": ["gold"]}},
                )  # fmt: skip
                while (await COMMANDS["show"](ctx, event_id, {}))["phase"] == "inviting":  # noqa: ASYNC110 (a query, not an event)
                    await asyncio.sleep(1.0)
                invited_s = time.perf_counter() - started
                say(f"  {count:,} invited in {invited_s:,.0f} s")
                came = [cid for n, cid in enumerate(ids) if n % 5][:1000]
                for start in range(0, len(came), 500):
                    await COMMANDS["attend"](ctx, event_id, {"attended": came[start : start + 500]})
                closing = time.perf_counter()
                closed = await COMMANDS["close"](ctx, event_id, {})
                close_answer_s = time.perf_counter() - closing
                handle = env.client.get_workflow_handle(f"event-{event_id}")
                final = await handle.result()
                total_s = time.perf_counter() - started
                runs = await chain(env.client, f"event-{event_id}")
    finally:
        await env.shutdown()
        engine.dispose()
    sizes = [History(events=h.events).ByteSize() for h in runs]
    events = [len(h.events) for h in runs]
    return {
        "clients in the segment": f"{segment:,} ({count:,} seeded by this run)",
        "counts at the end": ", ".join(f"{k} {v:,}" for k, v in sorted(final["counts"].items())),
        "runs": f"{len(runs):,}",
        "events per run": f"max {max(events):,}, {sum(events):,} in all",
        "bytes per run": f"max {max(sizes) / 1024:,.0f} KiB, {sum(sizes) / 2**20:,.1f} MiB in all",
        "time": f"invitations {invited_s:,.0f} s, close answered in {close_answer_s:,.1f} s "
        f"(phase {closed['phase']}), whole event {total_s:,.0f} s",
        "_max_events": max(events),
        "_max_bytes": max(sizes),
        "_counts": final["counts"],
        "_segment": segment,
    }


async def main() -> int:
    p = parser(__doc__)
    p.add_argument("--clients", type=int, default=100_000, help="clients in the segment")
    args = p.parse_args()
    async with local_stack(args.workdir / "events") as ep:
        say(f"one event over {args.clients:,} clients")
        found = await measure(ep.database_url, ep.keyring, args.clients)
    verdict = Verdict()
    counts = found.pop("_counts")
    segment = found.pop("_segment")
    verdict.check(
        f"every client of the segment ({segment:,}) accounted for",
        sum(counts.values()) == segment and counts.get("attended") == 1000,
    )
    longest, biggest = found.pop("_max_events"), found.pop("_max_bytes")
    verdict.check(f"longest run {longest:,} events (< {MAX_EVENTS_PER_RUN:,})", longest < 4096)
    verdict.check(
        f"largest run {biggest / 1024:,.0f} KiB (< {MAX_BYTES_PER_RUN // 1024:,} KiB)",
        biggest < MAX_BYTES_PER_RUN,
    )
    return verdict.report("event history at scale", {**machine(), **found})


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
