"""The quarterly tier review's side effects: read a page of clients, record decisions, signal.

Reading and deciding (`evaluate_tier_page`) writes nothing, so a retry is free (it re-reads its
page rather than resuming inside it: the page's result is every decision in it, and a page is a
few hundred rows); it heartbeats as it goes, so a page whose worker died is retried after the
short heartbeat timeout rather than the whole start-to-close one. The decisions
then go through a `@projector` (`project_tier_decisions`) whose input carries every row it
writes, so `auditor.py rebuild-projections` can rebuild `tier_review_state` and `tier_changes`
from the review's history alone. Signalling the changed clients is a third, async activity
because it needs the Temporal client; see `activities.tier_signals`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select
from temporalio import activity

from activities.deps import ActivityDeps
from activities.projection import write_rows
from domain.client import ClientMetrics
from domain.enums import ServiceStatus, Tier
from domain.policy import TieringPolicy
from domain.tiering import TierReview, review_tier
from projections.crypto import FieldCipher
from projections.registry import Write, projector
from projections.tables import clients, tier_changes, tier_review_state

PROJECT_TIER_DECISIONS = "project_tier_decisions"


REVIEW_HEARTBEAT_EVERY = 100
"""Rows reviewed between the page activity's heartbeats (the SDK throttles what it sends)."""


class TierPageProgress(BaseModel):
    """The page activity's heartbeat: how far into its page it is (for describe / the UI)."""

    stage: Literal["reading", "reviewing"]
    reviewed: int = 0
    rows: int = 0


class TierPageRequest(BaseModel):
    review_id: str
    after_client_id: str | None
    limit: int
    tiers: TieringPolicy


class TierDecision(BaseModel):
    """One client's review result worth recording: a tier change or a new below-tier count."""

    client_id: str
    review: TierReview


class TierPage(BaseModel):
    reviewed: int
    skipped: int
    decisions: list[TierDecision]
    next_after: str | None

    @property
    def changes(self) -> list[TierDecision]:
        return [d for d in self.decisions if d.review.changed]


class TierDecisions(BaseModel):
    """Everything `project_tier_decisions` writes. `review_seq` orders reviews (newer wins)."""

    review_id: str
    review_seq: int
    at: datetime
    decisions: list[TierDecision]
    policy_version: str | None = None
    """The published policy version the review applied (None: the policy file)."""


class TierChangeSignal(BaseModel):
    """What a client's workflow receives when the review moves it to another tier."""

    review_id: str
    old_tier: Tier
    new_tier: Tier
    direction: Literal["up", "down", "none"]
    reason: str
    at: datetime


@projector(PROJECT_TIER_DECISIONS, TierDecisions)
def tier_decision_rows(inp: TierDecisions, _cipher: FieldCipher) -> list[Write]:
    state = [
        {
            "client_id": d.client_id,
            "below_count": d.review.below_count,
            "last_review_id": inp.review_id,
            "seq": inp.review_seq,
            "updated_at": inp.at,
        }
        for d in inp.decisions
    ]
    changes = [
        {
            "client_id": d.client_id,
            "review_id": inp.review_id,
            "old_tier": d.review.old_tier.value,
            "new_tier": d.review.new_tier.value,
            "reason": d.review.reason,
            "figures": d.review.figures,
            "at": inp.at,
            "policy_version": inp.policy_version,
        }
        for d in inp.decisions
        if d.review.changed
    ]
    return [
        Write(tier_review_state, state, ("client_id",)),
        Write(tier_changes, changes, ("client_id", "review_id"), mode="once"),
    ]


class TierReviewActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    @activity.defn(name="evaluate_tier_page")
    def evaluate_tier_page(self, req: TierPageRequest) -> TierPage:
        """One keyset page of served clients (by client_id), each reviewed against its tier.

        A client whose state already names this review was decided by an earlier attempt of
        the same review; deciding again would count its below-tier review twice.
        """
        c, s = clients, tier_review_state
        query = (
            select(
                c.c.client_id,
                c.c.tier,
                c.c.aum,
                c.c.annual_contribution,
                c.c.transactions_12m,
                s.c.below_count,
                s.c.last_review_id,
            )
            .select_from(c.outerjoin(s, s.c.client_id == c.c.client_id))
            .where(c.c.status != ServiceStatus.CLOSED.value)
            .order_by(c.c.client_id)
            .limit(req.limit)
        )
        if req.after_client_id is not None:
            query = query.where(c.c.client_id > req.after_client_id)
        activity.heartbeat(TierPageProgress(stage="reading"))
        with self._deps.engine.connect() as conn:
            rows = conn.execute(query).all()
        decisions: list[TierDecision] = []
        skipped = 0
        for n, row in enumerate(rows):
            if n % REVIEW_HEARTBEAT_EVERY == 0:
                activity.heartbeat(TierPageProgress(stage="reviewing", reviewed=n, rows=len(rows)))
            if row.last_review_id == req.review_id or row.aum is None:
                skipped += 1
                continue
            before = row.below_count or 0
            metrics = ClientMetrics(
                aum=row.aum,
                annual_contribution=row.annual_contribution or 0,
                transactions_12m=row.transactions_12m or 0,
            )
            review = review_tier(Tier(row.tier), before, metrics, req.tiers)
            if review.changed or review.below_count != before:
                decisions.append(TierDecision(client_id=row.client_id, review=review))
        full_page = len(rows) == req.limit
        return TierPage(
            reviewed=len(rows) - skipped,
            skipped=skipped,
            decisions=decisions,
            next_after=rows[-1].client_id if full_page else None,
        )

    @activity.defn(name=PROJECT_TIER_DECISIONS)
    def project_tier_decisions(self, inp: TierDecisions) -> int:
        return write_rows(self._deps, tier_decision_rows(inp, self._deps.cipher))
