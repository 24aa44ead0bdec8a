"""A tier-review page whose worker stops answering is retried in seconds, not at PAGE_TIMEOUT.

bench/tier_review.py measured it: with the worker SIGKILLed mid-review, the page in flight sat
out its whole start-to-close timeout (2 minutes) before another worker got it. On the dev
server, because the time-skipping server would skip that wait and hide the difference.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

from sqlalchemy import Engine, insert
from temporalio import activity
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.deps import ActivityDeps
from activities.tier_review import TierPage, TierPageRequest, TierReviewActivities
from domain.enums import Tier
from domain.policy import Policy, TieringPolicy
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.tables import clients
from tests.workflows.test_tier_review_quarters import client_row, review_worker
from workflows.tier_review import PAGE_TIMEOUT, TierReviewInput, TierReviewWorkflow


class DeadFirstAttempt:
    """`evaluate_tier_page` whose first attempt goes silent, as on a worker that was killed:
    it neither heartbeats nor completes until the test releases it."""

    def __init__(self, real: TierReviewActivities) -> None:
        self.real = real
        self.released = threading.Event()
        self.attempts: list[tuple[int, float]] = []

    @activity.defn(name="evaluate_tier_page")
    def evaluate_tier_page(self, req: TierPageRequest) -> TierPage:
        attempt = activity.info().attempt
        self.attempts.append((attempt, time.monotonic()))
        if attempt == 1:
            self.released.wait(PAGE_TIMEOUT.total_seconds())
            raise RuntimeError("the dead attempt's result is never wanted")
        return self.real.evaluate_tier_page(req)


async def test_a_silent_page_attempt_is_retried_well_before_page_timeout(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    policy = Policy()
    gold = policy.tiers.threshold(Tier.GOLD)
    assert gold is not None
    with db.begin() as conn:
        conn.execute(insert(clients), [client_row("hb-1", Tier.GOLD, gold.aum, policy)])
    client: Client = dev_env.client
    pages = DeadFirstAttempt(
        TierReviewActivities(ActivityDeps(engine=db, cipher=FieldCipher(keyring)))
    )
    bound = PAGE_TIMEOUT.total_seconds() / 3
    async with review_worker(client, db, keyring, evaluate_page=pages.evaluate_tier_page) as queue:
        started = time.monotonic()
        handle = await client.start_workflow(
            TierReviewWorkflow.run,
            TierReviewInput(policy=policy),
            id=f"tier-review-hb-page-{uuid.uuid4().hex[:6]}",
            task_queue=queue,
        )
        try:
            result = await asyncio.wait_for(handle.result(), timeout=bound)
        except TimeoutError:
            await handle.terminate("test over")
            raise AssertionError(
                f"the silent page was not retried within {bound:.0f} s "
                f"(attempts {[a for a, _ in pages.attempts]})"
            ) from None
        finally:
            # The worker's shutdown waits for the silent attempt's thread.
            pages.released.set()
        elapsed = time.monotonic() - started
    assert [a for a, _ in pages.attempts] == [1, 2]
    assert result.totals.reviewed == 1
    assert elapsed < bound


def test_the_page_activity_heartbeats_as_it_works(db: Engine, keyring: KeyRing) -> None:
    """A page of several hundred clients heartbeats while it reads and reviews them, so a
    heartbeat timeout shorter than the page's work does not cut off a live attempt."""
    policy = Policy(tiers=TieringPolicy(review_page_size=500))
    gold = policy.tiers.threshold(Tier.GOLD)
    assert gold is not None
    with db.begin() as conn:
        conn.execute(
            insert(clients),
            [client_row(f"hb-{n:03d}", Tier.GOLD, gold.aum, policy) for n in range(500)],
        )
    beats: list[object] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    tiers = TierReviewActivities(ActivityDeps(engine=db, cipher=FieldCipher(keyring)))
    page = env.run(
        tiers.evaluate_tier_page,
        TierPageRequest(review_id="r-hb", after_client_id=None, limit=500, tiers=policy.tiers),
    )
    assert page.reviewed == 500
    # Before the read, after it, and as the review goes through the rows.
    assert len(beats) >= 3
