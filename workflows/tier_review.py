"""TierReviewWorkflow: the quarterly re-tiering of every served client (DOMAIN §3).

The schedule `tier-review` starts one run per quarter. The run walks the `clients` projection in
keyset pages (by client_id), so it never holds more than one page; each page costs three
activities whatever its size, and the run continues as new every `pages_per_run` pages (or
sooner when Temporal suggests it) carrying the cursor, so 100,000 clients stay far inside the
history limits. Signals to changed clients go out from an activity in one batch per page rather
than from the workflow, where each would add two events to this history.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from activities.policy import PolicyActivities, PolicyAt
    from activities.tier_review import (
        TierDecisions,
        TierPage,
        TierPageRequest,
        TierReviewActivities,
    )
    from activities.tier_signals import TierSignalActivities, TierSignalBatch, TierSignalResult
    from domain.policy import Policy
    from domain.tiering import review_id_for
    from workflows.client_service import ClientServiceWorkflow
    from workflows.client_service.models import workflow_id_for
    from workflows.search_attributes import SCHEDULED_START

SCHEDULE_ID = "tier-review"
PAGE_TIMEOUT = timedelta(minutes=2)
PAGE_HEARTBEAT = timedelta(seconds=10)
"""A page attempt that stops heartbeating (its worker died) is retried after this long, not after
the whole `PAGE_TIMEOUT` (bench/RESULTS.md: a SIGKILL cost the review 2 minutes). Long enough for
one keyset read of a page on a loaded machine, between which the attempt heartbeats."""
SIGNAL_HEARTBEAT = timedelta(seconds=30)
"""A signalling attempt that stops reporting progress is retried (from its last heartbeat) after
this long, rather than after the whole `PAGE_TIMEOUT`."""
REVIEW_PER_QUARTER = "tier-review-per-scheduled-quarter"
POLICY_IN_FORCE = "tier-review-reads-policy-in-force"
"""A review reads the published policy version in force at its start (the schedule's input is
whichever worker created the schedule's); its later runs carry that one."""
CHANGE_TIER = workflow._SignalDefinition.must_name_from_fn_or_str(ClientServiceWorkflow.change_tier)
"""The client workflow's tier signal, by its definition (as a client handle would name it)."""
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


class TierReviewTotals(BaseModel):
    pages: int = 0
    reviewed: int = 0
    skipped: int = 0
    upgraded: int = 0
    downgraded: int = 0
    not_running: int = 0


class TierReviewInput(BaseModel):
    """Empty on the schedule's start; continue-as-new fills in the review it is part of.

    `review_id` given on a first start names the review explicitly (a deliberate second review
    in one quarter); otherwise the run is the review of the quarter it was due in."""

    policy: Policy
    review_id: str | None = None
    reviewed_at: datetime | None = None
    after_client_id: str | None = None
    totals: TierReviewTotals = TierReviewTotals()
    pages_per_run: int = 50
    policy_version: str | None = None
    """The published version `policy` is, once the first run read it (None: the file's)."""


class TierReviewResult(BaseModel):
    review_id: str
    reviewed_at: datetime
    totals: TierReviewTotals


# Pinned: one review (its continued runs inherit the version) applies one version of the rules.
@workflow.defn(name="TierReviewWorkflow", versioning_behavior=VersioningBehavior.PINNED)
class TierReviewWorkflow:
    def __init__(self) -> None:
        self._totals = TierReviewTotals()
        self._cursor: str | None = None
        self._policy_version: str | None = None

    @workflow.run
    async def run(self, inp: TierReviewInput) -> TierReviewResult:
        if inp.review_id is None and workflow.patched(POLICY_IN_FORCE):
            published = await workflow.execute_activity_method(
                PolicyActivities.policy_in_force,
                PolicyAt(at=workflow.now()),
                start_to_close_timeout=PAGE_TIMEOUT,
                retry_policy=RETRY,
            )
            if published is not None:
                inp = inp.model_copy(
                    update={"policy": published.policy, "policy_version": published.version_id}
                )
        self._policy_version = inp.policy_version
        # Continue-as-new carries the review it is part of.
        review_id = inp.review_id or self._review_of(inp.policy)
        at = inp.reviewed_at or workflow.now()
        self._totals = inp.totals.model_copy()
        self._cursor = inp.after_client_id
        tiers = inp.policy.tiers
        for _ in range(inp.pages_per_run):
            workflow.set_current_details(
                f"review {review_id}: {self._totals.reviewed} clients reviewed, "
                f"{self._totals.upgraded} up, {self._totals.downgraded} down"
            )
            page: TierPage = await workflow.execute_activity_method(
                TierReviewActivities.evaluate_tier_page,
                TierPageRequest(
                    review_id=review_id,
                    after_client_id=self._cursor,
                    limit=tiers.review_page_size,
                    tiers=tiers,
                ),
                start_to_close_timeout=PAGE_TIMEOUT,
                heartbeat_timeout=PAGE_HEARTBEAT,
                retry_policy=RETRY,
                summary=f"page after {self._cursor or 'the start'}",
            )
            await self._record(review_id, at, page)
            self._cursor = page.next_after
            if self._cursor is None:
                return TierReviewResult(review_id=review_id, reviewed_at=at, totals=self._totals)
            if workflow.info().is_continue_as_new_suggested():
                break
        workflow.continue_as_new(
            inp.model_copy(
                update={
                    "review_id": review_id,
                    "reviewed_at": at,
                    "after_client_id": self._cursor,
                    "totals": self._totals,
                }
            )
        )

    def _review_of(self, policy: Policy) -> str:
        """The review of the quarter this run was due in: the schedule's action time (also set
        on a manual trigger or a rerun), or the start of a run started by hand. A second run in
        the quarter is then the same review, whose clients already counted are skipped."""
        info = workflow.info()
        if not workflow.patched(REVIEW_PER_QUARTER):
            return info.workflow_id  # reviews started before: one per run
        due = info.typed_search_attributes.get(SCHEDULED_START) or info.workflow_start_time
        return review_id_for(due, policy.zone())

    async def _record(self, review_id: str, at: datetime, page: TierPage) -> None:
        t = self._totals
        t.pages += 1
        t.reviewed += page.reviewed
        t.skipped += page.skipped
        if page.decisions:
            await workflow.execute_activity_method(
                TierReviewActivities.project_tier_decisions,
                TierDecisions(
                    review_id=review_id,
                    # Reviews are quarters apart: their start instant orders them for upserts.
                    review_seq=int(at.timestamp() * 1000),
                    at=at,
                    decisions=page.decisions,
                    policy_version=self._policy_version,
                ),
                start_to_close_timeout=PAGE_TIMEOUT,
                retry_policy=RETRY,
            )
        changes = page.changes
        if not changes:
            return
        result: TierSignalResult = await workflow.execute_activity_method(
            TierSignalActivities.signal_tier_changes,
            TierSignalBatch(
                review_id=review_id,
                at=at,
                decisions=changes,
                signal=CHANGE_TIER,
                workflow_ids={d.client_id: workflow_id_for(d.client_id) for d in changes},
            ),
            start_to_close_timeout=PAGE_TIMEOUT,
            heartbeat_timeout=SIGNAL_HEARTBEAT,
            retry_policy=RETRY,
        )
        t.not_running += len(result.not_running)
        for d in changes:
            if d.review.direction == "up":
                t.upgraded += 1
            else:
                t.downgraded += 1

    @workflow.query
    def progress(self) -> TierReviewTotals:
        return self._totals
