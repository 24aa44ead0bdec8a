"""The tier review at the size the brief names: 100,000 clients, default page size.

Checks what matters at scale: every run's history stays far below Temporal's limits (it
continues as new, carrying the cursor), and every client is reviewed exactly once.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import Engine, func, insert, select
from temporalio.testing import WorkflowEnvironment

from bench.tier_review import synthetic_rows
from domain.policy import Policy
from infra.keys import KeyRing
from projections.tables import clients, tier_changes
from tests.workflows.test_client_support import client_worker, run_histories
from workflows.tier_review import TierReviewInput, TierReviewWorkflow

CLIENTS = 100_000
GOLD = Policy().tiers.gold


def seed(engine: Engine) -> int:
    """Regular clients; every 100th has grown to gold's minimums and must be upgraded."""
    rows = synthetic_rows(CLIENTS, prefix="s")
    with engine.begin() as conn:
        for start in range(0, CLIENTS, 10_000):
            conn.execute(insert(clients), rows[start : start + 10_000])
    return CLIENTS // 100


async def test_review_of_100k_clients_stays_within_history_limits(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    upgrades = seed(db)
    async with client_worker(ts_env.client, db, keyring) as queue:
        started = time.monotonic()
        workflow_id = f"tier-review-scale-{uuid.uuid4().hex[:6]}"
        result = await ts_env.client.execute_workflow(
            TierReviewWorkflow.run,
            TierReviewInput(policy=Policy()),
            id=workflow_id,
            task_queue=queue,
        )
        elapsed = time.monotonic() - started
        runs = await run_histories(ts_env.client, workflow_id)
    print(f"100k review: {elapsed:.1f}s, {len(runs)} runs, {[len(h.events) for h in runs]} events")
    assert result.totals.reviewed == CLIENTS
    assert result.totals.pages == CLIENTS // Policy().tiers.review_page_size + 1
    assert (result.totals.upgraded, result.totals.not_running) == (upgrades, upgrades)
    assert len(runs) > 1
    assert all(len(h.events) < 2_000 for h in runs)
    assert all(len(h.to_json()) < 5_000_000 for h in runs)  # bytes; the limit is 50 MB
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tier_changes)).scalar() == upgrades
