"""The tier review is the review of the quarter it was due in, and its signalling resumes.

On the dev server: schedules (and their `TemporalScheduledStartTime`) exist only there, and
the time-skipping server may drop an activity's heartbeat details when the attempt fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    ScheduleBackfill,
    ScheduleOverlapPolicy,
    SignalWorkflowInput,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.deps import ActivityDeps
from activities.policy import PolicyActivities
from activities.tier_review import TierReviewActivities
from activities.tier_signals import (
    LEGACY_SIGNAL,
    SIGNAL_CONCURRENCY,
    TierSignalActivities,
    TierSignalBatch,
)
from audit.sources import saved_json
from commands.schedules import tier_review_schedule
from domain.enums import Tier
from domain.policy import Policy, SchedulePolicy, TieringPolicy
from infra.deployment import versioned_worker
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.tables import clients, tier_changes, tier_review_state
from tests.helpers.histories import recording_dir
from tests.helpers.signal_target import SignalTarget
from workflows.client_service.models import workflow_id_for
from workflows.tier_review import (
    CHANGE_TIER,
    TierReviewInput,
    TierReviewResult,
    TierReviewWorkflow,
)

SHANGHAI_JAN_1 = datetime(2026, 1, 1, 2, 0, tzinfo=UTC) - timedelta(hours=8)


def client_row(client_id: str, tier: Tier, aum: Decimal, policy: Policy) -> dict[str, Any]:
    threshold = policy.tiers.threshold(Tier.GOLD)
    assert threshold is not None
    return {
        "client_id": client_id,
        "workflow_id": workflow_id_for(client_id),
        "seq": 1,
        "kind": "individual",
        "tier": tier.value,
        "risk_profile": "balanced",
        "status": "active",
        "updated_at": datetime(2025, 12, 1, tzinfo=UTC),
        "aum": aum,
        "annual_contribution": threshold.annual_contribution,
        "transactions_12m": threshold.transactions_12m,
    }


async def save_history(client: Client, workflow_id: str, name: str) -> None:
    """`RECORD_TIER_HISTORIES=1` saves the run, decrypted, as a replay guard."""
    if os.environ.get("RECORD_TIER_HISTORIES") != "1":
        return
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    text = await saved_json(history, client.data_converter.payload_codec)
    (recording_dir() / f"{name}.json").write_text(text)


@asynccontextmanager
async def review_worker(
    client: Client,
    engine: Engine,
    keyring: KeyRing,
    signals_via: Client | None = None,
    evaluate_page: Callable[..., Any] | None = None,
) -> AsyncIterator[str]:
    """A worker of the tier review on a queue of its own; `evaluate_page` stands in for the
    page activity when a test needs one that misbehaves."""
    queue = f"tier-{uuid.uuid4().hex[:8]}"
    deps = ActivityDeps(engine=engine, cipher=FieldCipher(keyring))
    tiers = TierReviewActivities(deps)
    with ThreadPoolExecutor(max_workers=4) as pool:
        async with versioned_worker(
            client,
            task_queue=queue,
            workflows=[TierReviewWorkflow, SignalTarget],
            activities=[
                evaluate_page or tiers.evaluate_tier_page,
                tiers.project_tier_decisions,
                TierSignalActivities(signals_via or client).signal_tier_changes,
                PolicyActivities(deps, client).policy_in_force,
            ],
            activity_executor=pool,
        ):
            yield queue


async def test_a_rerun_in_the_same_quarter_is_the_same_review(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    """A client one fen short of gold is downgraded at the second consecutive review below: two
    runs due in Q1 2026 are one review; the run due in Q2 is the second."""
    policy = Policy(schedules=SchedulePolicy(tier_review_cron="0 2 1,15 1,4 *"))
    gold = policy.tiers.threshold(Tier.GOLD)
    assert gold is not None
    with db.begin() as conn:
        conn.execute(insert(clients), [client_row("q-short", Tier.GOLD, gold.aum - 1, policy)])
    client = dev_env.client
    async with review_worker(client, db, keyring) as queue:
        schedule_id = f"tier-review-q-{uuid.uuid4().hex[:6]}"
        schedule = tier_review_schedule(policy, queue, schedule_id)
        schedule.state.paused = True  # only the backfills below run
        handle = await client.create_schedule(schedule_id, schedule)
        try:

            async def run_due(at: datetime) -> TierReviewResult:
                await handle.backfill(
                    ScheduleBackfill(
                        start_at=at - timedelta(minutes=1),
                        end_at=at + timedelta(minutes=1),
                        overlap=ScheduleOverlapPolicy.ALLOW_ALL,
                    )
                )
                wid = f"{schedule_id}-{at.strftime('%Y-%m-%dT%H:%M:%SZ')}"
                run = client.get_workflow_handle_for(TierReviewWorkflow.run, wid)
                for _ in range(100):  # the schedule starts it shortly after the backfill
                    with contextlib.suppress(RPCError):
                        return await run.result()
                    await asyncio.sleep(0.1)
                raise AssertionError(f"the schedule started no run {wid}")

            first = await run_due(SHANGHAI_JAN_1)
            await save_history(client, f"{schedule_id}-2025-12-31T18:00:00Z", "tier_review_quarter")
            rerun = await run_due(SHANGHAI_JAN_1 + timedelta(days=14))
            assert first.review_id == rerun.review_id == "tier-review-2026-Q1"
            assert (first.totals.reviewed, rerun.totals.reviewed, rerun.totals.skipped) == (1, 0, 1)
            with db.connect() as conn:
                below = conn.execute(select(tier_review_state.c.below_count)).scalar_one()
                assert below == 1
                assert conn.execute(select(tier_changes)).all() == []
            second = await run_due(SHANGHAI_JAN_1 + timedelta(days=90))
        finally:
            await handle.delete()
    assert second.review_id == "tier-review-2026-Q2"
    assert second.totals.downgraded == 1
    with db.connect() as conn:
        change = conn.execute(select(tier_changes.c.review_id, tier_changes.c.new_tier)).one()
    assert tuple(change) == ("tier-review-2026-Q2", "regular")


class Throttle(Interceptor):
    """Fails the `fail_at`-th signal once, as a throttling server would."""

    def __init__(self, fail_at: int) -> None:
        self.fail_at = fail_at
        self.sent = 0

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        throttle = self

        class _Out(OutboundInterceptor):
            async def signal_workflow(self, input: SignalWorkflowInput) -> None:
                throttle.sent += 1
                if throttle.sent == throttle.fail_at:
                    await asyncio.sleep(0.2)  # let the rest of the group land first
                    raise RPCError("throttled", RPCStatusCode.RESOURCE_EXHAUSTED, b"")
                await super().signal_workflow(input)

        return _Out(next)


async def test_a_retried_signal_attempt_resumes_from_its_heartbeat(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    count, fail_at = 3 * SIGNAL_CONCURRENCY, 2 * SIGNAL_CONCURRENCY + 5
    policy = Policy(tiers=TieringPolicy(review_page_size=500))
    diamond = policy.tiers.threshold(Tier.DIAMOND)
    assert diamond is not None
    run = uuid.uuid4().hex[:6]
    ids = [f"hb-{run}-{n:03d}" for n in range(count)]  # the page's order
    rows = [{**client_row(c, Tier.REGULAR, diamond.aum, policy)} for c in ids]
    for row in rows:  # earns diamond: every client changes, so every one is signalled
        row.update(annual_contribution=diamond.annual_contribution, transactions_12m=50)
    with db.begin() as conn:
        conn.execute(insert(clients), rows)
    throttle = Throttle(fail_at)
    config = dev_env.client.config()
    config["interceptors"] = [*config["interceptors"], throttle]
    async with review_worker(dev_env.client, db, keyring, Client(**config)) as queue:
        targets = [
            await dev_env.client.start_workflow(
                SignalTarget.run, id=workflow_id_for(c), task_queue=queue
            )
            for c in ids
        ]
        try:
            result = await dev_env.client.execute_workflow(
                TierReviewWorkflow.run,
                TierReviewInput(policy=policy),
                id=f"tier-review-hb-{uuid.uuid4().hex[:6]}",
                task_queue=queue,
            )
            received = [await signals(t) for t in targets]
        finally:
            for t in targets:
                await t.terminate("test over")
    assert result.totals.upgraded == count and result.totals.not_running == 0
    assert min(received) == 1  # every client got its change
    # The groups heartbeated before the throttled one are not signalled again; at most the
    # group in flight when the attempt failed is.
    done_before = (fail_at - 1) // SIGNAL_CONCURRENCY * SIGNAL_CONCURRENCY
    assert received[:done_before] == [1] * done_before
    assert throttle.sent <= count + SIGNAL_CONCURRENCY


async def signals(handle: Any) -> int:
    return len(
        [
            e
            async for e in handle.fetch_history_events()
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        ]
    )


def test_batches_scheduled_before_named_the_same_targets() -> None:
    assert LEGACY_SIGNAL == CHANGE_TIER
    assert TierSignalBatch(review_id="r", at=SHANGHAI_JAN_1, decisions=[]).target("c-9") == (
        workflow_id_for("c-9")
    )
