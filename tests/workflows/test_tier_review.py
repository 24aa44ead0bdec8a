"""The quarterly tier review over a few hundred clients, and the `tier-review` schedule.

The expected moves are built into the seeded data: every client is made from the policy's
thresholds so that its fate is known by construction (meets its own tier, earns a higher one,
falls one fen short of its own), never by calling the function under test.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert, select, update
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from commands.clients import COMMANDS
from commands.schedules import ensure_tier_review_schedule
from domain.enums import Tier
from domain.policy import Policy, TieringPolicy
from domain.tiering import review_id_for
from infra.keys import KeyRing
from projections.tables import clients, tier_changes, tier_review_state
from tests.workflows.test_client_support import client_body, client_worker, ctx
from workflows.search_attributes import SCHEDULED_START
from workflows.tier_review import TierReviewInput, TierReviewResult, TierReviewWorkflow

ORDER = [Tier.REGULAR, Tier.GOLD, Tier.PLATINUM, Tier.DIAMOND]  # lowest first
POLICY = Policy(tiers=TieringPolicy(review_page_size=40))
FEN = Decimal("0.01")


def minimums(tier: Tier) -> dict[str, Any]:
    t = POLICY.tiers.threshold(tier)
    if t is None:
        return {"aum": Decimal(1000), "annual_contribution": Decimal(0), "transactions_12m": 0}
    return {
        "aum": t.aum,
        "annual_contribution": t.annual_contribution,
        "transactions_12m": t.transactions_12m,
    }


def seed(engine: Engine, count: int) -> dict[str, dict[str, Any]]:
    """`count` clients, each with its case, tier, and the tiers it must hold after reviews 1
    and 2."""
    rng = random.Random(20261128)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    plan: dict[str, dict[str, Any]] = {}
    rows, states = [], []
    for i in range(count):
        client_id = f"t-{i:04d}"
        case = rng.choice(["keeps", "earns_higher", "short_once", "short_again", "closed"])
        tier = rng.choice(ORDER[1:] if case.startswith("short") else ORDER)
        metrics, first, second = minimums(tier), tier, tier
        if case == "earns_higher" or (case == "closed" and tier is not Tier.DIAMOND):
            if tier is Tier.DIAMOND:  # nothing above: earning its own keeps it
                case = "keeps"
            else:
                target = rng.choice(ORDER[ORDER.index(tier) + 1 :])
                metrics = minimums(target)
                if case == "earns_higher":
                    first = second = target
        elif case.startswith("short"):
            # One fen below its own AUM minimum: earns the tier just below, all else met.
            metrics = {**metrics, "aum": metrics["aum"] - FEN}
            below = ORDER[ORDER.index(tier) - 1]
            # Downgrade only at the second consecutive review below (downgrade_after_reviews=2).
            first = below if case == "short_again" else tier
            second = below
        if case == "short_again":
            states.append(
                {"client_id": client_id, "below_count": 1, "last_review_id": "earlier",
                 "seq": 1, "updated_at": now}
            )  # fmt: skip
        rows.append(
            {
                "client_id": client_id,
                "workflow_id": f"client-{client_id}",
                "seq": 1,
                "kind": "individual",
                "tier": tier.value,
                "risk_profile": "balanced",
                "status": "closed" if case == "closed" else "active",
                "updated_at": now,
                **metrics,
            }
        )
        plan[client_id] = {"case": case, "tier": tier, "first": first, "second": second}
    with engine.begin() as conn:
        conn.execute(insert(clients), rows)
        conn.execute(insert(tier_review_state), states)
    return plan


async def review(client: Client, queue: str, review_id: str | None = None) -> TierReviewResult:
    return await client.execute_workflow(
        TierReviewWorkflow.run,
        TierReviewInput(policy=POLICY, review_id=review_id, pages_per_run=3),
        id=f"tier-review-test-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
    )


def changes(engine: Engine, review_id: str) -> dict[str, tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(tier_changes).where(tier_changes.c.review_id == review_id))
        return {r.client_id: (r.old_tier, r.new_tier) for r in rows}


async def test_review_moves_exactly_the_clients_the_thresholds_say(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    plan = seed(db, 300)
    served = ["c-rv-up", "c-rv-keep"]
    async with client_worker(
        ts_env.client, db, keyring, ends=[f"client-{c}" for c in served]
    ) as queue:
        c = ctx(ts_env.client, queue, POLICY)
        # Two real client workflows: one grows into platinum, one stays gold.
        for client_id in served:
            await COMMANDS["onboard"](c, None, client_body(client_id, Tier.GOLD))
        await COMMANDS["update"](
            c, "c-rv-up", {"metrics": {k: str(v) for k, v in minimums(Tier.PLATINUM).items()}}
        )
        plan["c-rv-up"] = {"case": "earns_higher", "tier": Tier.GOLD, "first": Tier.PLATINUM}
        plan["c-rv-keep"] = {"case": "keeps", "tier": Tier.GOLD, "first": Tier.GOLD}

        first = await review(ts_env.client, queue, review_id="review-1")
        expected = {
            cid: (p["tier"].value, p["first"].value)
            for cid, p in plan.items()
            if p["first"] is not p["tier"]
        }
        assert changes(db, first.review_id) == expected
        assert first.totals.pages > 3  # a run reads at most 3 pages: it continued as new
        assert first.totals.reviewed == sum(p["case"] != "closed" for p in plan.values())
        assert first.totals.upgraded + first.totals.downgraded == len(expected)
        assert first.totals.not_running == len(expected) - 1  # only c-rv-up has a workflow
        with db.connect() as conn:
            counts = dict(
                conn.execute(
                    select(tier_review_state.c.client_id, tier_review_state.c.below_count)
                ).all()
            )
        assert {cid for cid, n in counts.items() if n == 1} == {
            cid for cid, p in plan.items() if p["case"] == "short_once"
        }

        # The signalled client re-planned at once: its workflow and its row say platinum.
        upgraded = await COMMANDS["show"](c, "c-rv-up", {})
        assert upgraded["tier"] == "platinum"
        kept = await COMMANDS["show"](c, "c-rv-keep", {})
        assert kept["tier"] == "gold"

        # The same review again (a rerun): nothing counted twice, nothing new.
        again = await review(ts_env.client, queue, review_id=first.review_id)
        assert again.totals.upgraded + again.totals.downgraded == 0
        assert changes(db, first.review_id) == expected

        # Seeded clients have no workflow to apply their change; do what it would do.
        with db.begin() as conn:
            for cid, (_, new) in expected.items():
                conn.execute(update(clients).where(clients.c.client_id == cid).values(tier=new))
        second = await review(ts_env.client, queue, review_id="review-2")
    seeded = {cid: p for cid, p in plan.items() if cid.startswith("t-")}
    assert changes(db, second.review_id) == {
        cid: (p["first"].value, p["second"].value)
        for cid, p in seeded.items()
        if p["second"] is not p["first"]
    }
    with db.connect() as conn:
        reasons = [r.reason for r in conn.execute(select(tier_changes.c.reason))]
    assert any("downgraded after 2 consecutive reviews" in r for r in reasons)


async def test_schedule_is_created_once_and_starts_a_review(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    policy = Policy()
    async with client_worker(dev_env.client, db, keyring) as queue:
        schedule_id = f"tier-review-test-{uuid.uuid4().hex[:6]}"
        assert (
            await ensure_tier_review_schedule(dev_env.client, queue, policy, schedule_id)
            == "created"
        )
        assert (
            await ensure_tier_review_schedule(dev_env.client, queue, policy, schedule_id)
            == "updated"
        )
        handle = dev_env.client.get_schedule_handle(schedule_id)
        desc = await handle.describe()
        # "0 2 1 1,4,7,10 *" in Shanghai: 02:00 on the first day of each quarter.
        upcoming = [t.astimezone(policy.zone()) for t in desc.info.next_action_times]
        assert upcoming and all((t.day, t.hour, t.minute) == (1, 2, 0) for t in upcoming)
        assert {t.month for t in upcoming} <= {1, 4, 7, 10}
        assert desc.schedule.action.workflow == "TierReviewWorkflow"  # type: ignore[attr-defined]
        await handle.trigger()
        for _ in range(100):
            desc = await handle.describe()
            if desc.info.recent_actions:
                break
            await asyncio.sleep(0.1)
        started = desc.info.recent_actions[0].action
        run = dev_env.client.get_workflow_handle_for(
            TierReviewWorkflow.run,
            started.workflow_id,  # type: ignore[attr-defined]
        )
        result = await asyncio.wait_for(run.result(), timeout=60)
        due = (await run.describe()).typed_search_attributes.get(SCHEDULED_START)
        await handle.delete()
    assert due is not None  # a manual trigger is due when it was triggered
    assert result.review_id == review_id_for(due, policy.zone())
    assert result.totals.pages == 1 and result.totals.reviewed == 0
