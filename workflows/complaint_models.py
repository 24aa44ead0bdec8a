"""The complaint workflow's input, query results and workflow ids.

Update inputs are the domain's command models (`domain.complaint`), and every update returns the
`Complaint` state (`domain.complaint_state`), which holds no personal data.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from domain.complaint import ComplaintEvent, ComplaintIntake, Ref
from domain.policy import Policy

DEFAULT_SUPERVISION = "complaint-supervision"


class ComplaintInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    complaint_id: Ref
    intake: ComplaintIntake
    policy: Policy
    matter_workflow_id: str | None = None
    """The open-complaint registry of this complaint's matter, told when the complaint ends."""
    supervision: Ref = DEFAULT_SUPERVISION
    """Who takes charge on escalation when the complaint has no named supervisor."""


class Timeline(BaseModel):
    """Every recorded event in order; `detail` holds free text (this result is encrypted)."""

    complaint_id: str
    events: list[ComplaintEvent]


def complaint_workflow_id(complaint_id: str) -> str:
    return f"complaint-{complaint_id}"


def matter_workflow_id(matter_key: str) -> str:
    """A colon cannot occur in a complaint id, so this never collides with `complaint-<id>`."""
    return f"complaint-matter:{matter_key}"
