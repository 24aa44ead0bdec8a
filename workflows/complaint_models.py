"""The complaint workflow's input, query results and workflow ids.

Update inputs are the domain's command models (`domain.complaint`), and every update returns the
`Complaint` state (`domain.complaint_state`), which holds no personal data.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from domain.complaint import ComplaintEvent, ComplaintIntake
from domain.identifiers import Ref
from domain.policy import Policy
from domain.policy_versions import PolicyInForce

DEFAULT_SUPERVISION = "complaint-supervision"


class ComplaintInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    complaint_id: Ref
    intake: ComplaintIntake
    policy: Policy
    matter_workflow_id: str | None = None
    """Set only on complaints opened before their matter's registry started them itself: the
    registry such a complaint confirms to at its start and releases at its end (by signal,
    `MATTER_CONFIRM` / `MATTER_RELEASE`). A complaint the registry starts is its child, and the
    registry learns of its end from the child's completion."""
    supervision: Ref = DEFAULT_SUPERVISION
    """Who takes charge on escalation when the complaint has no named supervisor."""
    versions: PolicyInForce = PolicyInForce()
    """Which published policy version `policy` is (None: the policy file)."""


class ForgetPersonalData(BaseModel):
    """Signal `forget_personal_data`: the complaint's client was erased (PIPL); the workflow
    keeps its intake without the person from now on, so no later input carries it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requested_by: Ref


MATTER_CONFIRM = "confirm"
MATTER_RELEASE = "release"
"""The matter registry's signals (`workflows.complaint_matter`), named here because both the
registry and the complaints that send them need the names and the registry imports the
complaint workflow."""


class MatterMember(BaseModel):
    """The complaint confirming (at its start) or releasing (at its end) the matter."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    complaint_id: Ref


class Timeline(BaseModel):
    """Every recorded event in order; `detail` holds free text (this result is encrypted)."""

    complaint_id: str
    events: list[ComplaintEvent]


def complaint_workflow_id(complaint_id: str) -> str:
    return f"complaint-{complaint_id}"


def matter_workflow_id(matter_key: str) -> str:
    """A colon cannot occur in a complaint id, so this never collides with `complaint-<id>`."""
    return f"complaint-matter:{matter_key}"
