"""Messages of `DataSubjectRequestWorkflow`: its input, updates and query results, and its id."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from domain.client import FinancialInfo
from domain.enums import Channel
from domain.identifiers import ClientId, Ref
from domain.policy import Policy
from domain.policy_versions import PolicyInForce
from domain.subject_request import (
    RejectionReason,
    SubjectRequest,
    SubjectRequestEvent,
    SubjectRequestKind,
)
from workflows.client_service.models import BasicChanges

WORKFLOW_TYPE = "DataSubjectRequestWorkflow"
_COMMAND = ConfigDict(frozen=True, extra="forbid")


def subject_request_workflow_id(request_id: str) -> str:
    return f"dsr-{request_id}"


class Correction(BaseModel):
    """What the client says is wrong in their file, and the right value (PIPL Art. 46): the
    personal parts of a `client update` body. Personal data: encrypted payloads only."""

    model_config = _COMMAND
    basic: BasicChanges | None = None
    financial: FinancialInfo | None = None

    @model_validator(mode="after")
    def _something(self) -> Correction:
        if self.basic is None and self.financial is None:
            raise ValueError("a correction names basic and/or financial fields to correct")
        return self


class SubjectRequestFiling(BaseModel):
    """`privacy request`: who asks for what, received when and how."""

    model_config = _COMMAND
    client_id: ClientId
    kind: SubjectRequestKind
    request_id: Ref | None = Field(default=None, description="default: made by the command")
    channel: Channel = Channel.BRANCH
    received_at: AwareDatetime | None = Field(default=None, description="default: the start")
    correction: Correction | None = None

    @model_validator(mode="after")
    def _correction_for_corrections(self) -> SubjectRequestFiling:
        wanted = self.kind is SubjectRequestKind.CORRECTION
        if wanted and self.correction is None:
            raise ValueError("a correction request needs `correction` (what to correct)")
        if not wanted and self.correction is not None:
            raise ValueError(f"a {self.kind} request carries no `correction`")
        return self


class SubjectRequestInput(BaseModel):
    model_config = _COMMAND
    request_id: Ref
    filing: SubjectRequestFiling
    policy: Policy
    versions: PolicyInForce = PolicyInForce()


class FulfilRequest(BaseModel):
    """Staff carry the request out, having verified that the requester is the client (or
    entitled to act for them)."""

    model_config = _COMMAND
    by: Ref
    identity_verified: bool = Field(description="must be true: PIPL Art. 50 checks come first")


class RejectRequest(BaseModel):
    model_config = _COMMAND
    by: Ref
    reason: RejectionReason


class SubjectRequestTimeline(BaseModel):
    request_id: str
    events: list[SubjectRequestEvent]


__all__ = ["WORKFLOW_TYPE", "SubjectRequest", "subject_request_workflow_id"]
