"""The supervisors' saved searches as Temporal visibility queries (README, "Saved searches").

Visibility queries have no `now()`: a search for "due longer ago than the grace" or "due within
the warning period" needs a timestamp, so these functions take `now` and the policy and fill it
in. `starter.py search overdue-callbacks` and the worklist page (`infra.worklist`) both build
their queries here, so the query a supervisor is shown is the one that ran.
"""

from __future__ import annotations

from datetime import UTC, datetime

from domain.enums import Tier
from domain.policy import Policy

OPEN_COMPLAINTS = "WorkflowType='ComplaintWorkflow' AND ExecutionStatus='Running'"


def stamp(instant: datetime) -> str:
    """An instant as visibility compares it: UTC, whole seconds, `Z`."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def overdue_cutoff(policy: Policy, now: datetime) -> datetime:
    """A duty escalates once `callback_grace` has passed since it fell due
    (`domain.client_service`): overdue means due before this instant."""
    return policy.service.callback_grace.after(now, -1)


def overdue_callbacks_query(tier: Tier | None, cutoff: datetime) -> str:
    """Active clients whose oldest open advisor duty (`NextServiceDue`) fell due before
    `cutoff`; of one tier, or of every tier."""
    overdue = f"ServiceStatus='active' AND NextServiceDue < '{stamp(cutoff)}'"
    if tier is None:
        return f"WorkflowType='ClientServiceWorkflow' AND {overdue}"
    return f"ClientTier='{tier.value}' AND {overdue}"


def due_soon_query(policy: Policy, now: datetime) -> str:
    """Open complaints not yet past their deadline but inside the handler's warning period
    (`complaints.warn_before`): the ones to chase today."""
    until = policy.complaints.warn_before.after(now)
    return f"{OPEN_COMPLAINTS} AND SlaBreached=false AND SlaDeadline < '{stamp(until)}'"
