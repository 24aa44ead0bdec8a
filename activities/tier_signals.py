"""Telling each client the tier review changed about its new tier (`signal_tier_changes`).

Async, unlike the review's other activities: it only awaits the Temporal client, which lives on
the worker's event loop. Which workflows to signal, and with which signal, the review workflow
says in the batch, from the client workflow's definition (activities do not import workflows).

A page can hold hundreds of changes, and a throttled server slows each signal, so an attempt
may run out of time part-way: it heartbeats how far it got after each group, and the next
attempt resumes there instead of signalling the whole page again. Signals stay at-least-once
(the group in flight when an attempt ends is sent again); the client workflow ignores a review
it has already applied, so a repeat is harmless.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.tier_review import TierChangeSignal, TierDecision
from infra.concurrency import gather_bounded

SIGNAL_CONCURRENCY = 20
"""Signals in flight at once, and the group after which progress is heartbeated: enough to
hide round trips, few enough not to flood the server."""


LEGACY_SIGNAL = "change_tier"
LEGACY_WORKFLOW_ID = "client-{client_id}"
"""What batches scheduled before the review named its targets meant (a guard test holds them
equal to the client workflow's definition)."""


class TierSignalBatch(BaseModel):
    review_id: str
    at: datetime
    decisions: list[TierDecision]
    signal: str = LEGACY_SIGNAL
    workflow_ids: dict[str, str] = {}
    """Client id -> the workflow to signal."""

    def target(self, client_id: str) -> str:
        return self.workflow_ids.get(client_id) or LEGACY_WORKFLOW_ID.format(client_id=client_id)


class TierSignalResult(BaseModel):
    signalled: int
    not_running: list[str]


class TierSignalProgress(BaseModel):
    """The heartbeat: how many of the batch's changes are signalled, in batch order."""

    done: int = 0
    not_running: list[str] = []


class TierSignalActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="signal_tier_changes")
    async def signal_tier_changes(self, batch: TierSignalBatch) -> TierSignalResult:
        changes = [d for d in batch.decisions if d.review.changed]
        progress = _resumed()
        if progress.done:
            activity.logger.info(
                "tier signals resumed",
                extra={
                    "review_id": batch.review_id,
                    "signalled": progress.done,
                    "changes": len(changes),
                },
            )

        async def one(decision: TierDecision) -> None:
            review = decision.review
            signal = TierChangeSignal(
                review_id=batch.review_id,
                old_tier=review.old_tier,
                new_tier=review.new_tier,
                direction=review.direction,
                reason=review.reason,
                at=batch.at,
            )
            handle = self._client.get_workflow_handle(batch.target(decision.client_id))
            try:
                await handle.signal(batch.signal, signal)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                # Offboarded since the page was read: the tier_changes row stays as the
                # record, and there is no service left to re-plan.
                progress.not_running.append(decision.client_id)

        while progress.done < len(changes):
            group = changes[progress.done : progress.done + SIGNAL_CONCURRENCY]
            await gather_bounded(group, one, SIGNAL_CONCURRENCY)
            progress.done += len(group)
            activity.heartbeat(progress)
        activity.logger.info(
            "tier changes signalled",
            extra={"review_id": batch.review_id, "not_running": len(progress.not_running)},
        )
        return TierSignalResult(
            signalled=len(changes) - len(progress.not_running), not_running=progress.not_running
        )


def _resumed() -> TierSignalProgress:
    """Where the previous attempt got to (nothing on the first)."""
    details = activity.info().heartbeat_details
    if not details:
        return TierSignalProgress()
    return TierSignalProgress.model_validate(details[0])
