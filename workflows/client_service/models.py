"""Messages of ClientServiceWorkflow: its input, updates, signals and query results.

Each is one pydantic model, so a caller's mistake (a satisfaction of 7, a malformed date) is
refused by the payload converter or the validator before it reaches the workflow's history.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from activities.clients import TaskStatus
from activities.privacy import ErasureReason
from domain.client import ClientFile, ClientMetrics, FinancialInfo, Language
from domain.client_service import (
    RESTRICTED,
    Plan,
    ServiceState,
    TaskKind,
    placeholder_file,
    workflow_id_for,
)
from domain.consent import Consents
from domain.enums import ClientKind, RiskLevel, RiskProfile, ServiceStatus, Tier
from domain.identifiers import ClientId, Ref
from domain.policy import Policy
from domain.policy_versions import PolicyInForce
from domain.sealed import Sealable
from domain.segments import Segment
from domain.text import FreeText, Line

WORKFLOW_TYPE = "ClientServiceWorkflow"
__all__ = ["WORKFLOW_TYPE", "workflow_id_for"]  # the id, with the type, is the contract
Note = Annotated[str, FreeText(max_length=2000, multiline=True), Sealable()]
"""The client's own words (a callback's notes): sealed under the client's key by the command."""
Reason = Annotated[str, FreeText(max_length=500, multiline=True), Sealable()]
"""Why the service is paused or ended, in staff's words, which may be about the person (a
hospital stay, a death in the family): sealed under the client's key by the command."""


class EndedService(BaseModel):
    """What `client erase` knows of a client whose service has ended, to start a run that
    keeps the request's hold: no personal data, the relationship's end."""

    model_config = ConfigDict(extra="forbid")
    ended_at: datetime
    kind: ClientKind
    tier: Tier
    advisor_id: ClientId | None = None


class ClientServiceInput(BaseModel):
    """`state` is None on the first start (onboarding fills it) and carried on continue-as-new."""

    client_id: str
    policy: Policy
    state: ServiceState | None = None
    versions: PolicyInForce = PolicyInForce()
    """Which published policy version `policy` is (None: the policy file), and one told of and
    not yet in force; carried on continue-as-new with the policy then in force."""
    ended: EndedService | None = None
    """Set by `client erase` for a client whose service had ended: the run exists to keep the
    deletion request's hold (its first update is `erase_personal_data`)."""


class OwedDuty(BaseModel):
    """A callback or plan review the client was already owed when this service took them on
    (a client brought over from the firm's earlier system), with the day it fell due there."""

    kind: Literal[TaskKind.CALLBACK, TaskKind.PLAN_REVIEW]
    due_at: AwareDatetime


class OnboardClient(BaseModel):
    """The client file at first contact, or a complete re-submission of it. `owed` is read at
    first contact only: a re-submission leaves the duties as they stand."""

    file: ClientFile
    owed: list[OwedDuty] = Field(default=[], max_length=4)


class OnboardResult(BaseModel):
    workflow_id: str
    client_id: str
    tier: Tier
    risk_profile: RiskProfile
    risk_level: RiskLevel | None


SealedLine = Annotated[str, FreeText(max_length=500), Sealable()]


class BasicChanges(BaseModel):
    """Fields of `BasicInfo` to replace; those left out keep their value. The command layer
    checks them against `BasicInfo`'s rules and seals the personal ones (`commands.sealing`);
    the workflow's validator checks again what arrives (tokens pass as they are)."""

    model_config = ConfigDict(extra="forbid")
    name: SealedLine | None = None
    gender: Line | None = None
    birth_date: Annotated[date | str, Sealable(date)] | None = None
    birth_month_day: Line | None = None
    phone: SealedLine | None = None
    email: SealedLine | None = None
    address: Annotated[str, FreeText(max_length=500, multiline=True), Sealable()] | None = None
    occupation: SealedLine | None = None
    family_status: Line | None = None
    id_number: SealedLine | None = None

    @model_serializer(mode="wrap")
    def _given_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Only the fields given travel: the payload converter writes every field, so a field
        # left out arrived as null, which `revise_file` took for "clear it" (and refused the
        # name). An explicit null still travels, and still clears.
        out: dict[str, Any] = handler(self)
        return {k: v for k, v in out.items() if k in self.model_fields_set}


class ProfileUpdate(BaseModel):
    """`client update`: what changed in the file. New risk answers are a (re-)assessment."""

    model_config = ConfigDict(extra="forbid")
    basic: BasicChanges | None = None
    financial: FinancialInfo | None = None
    metrics: ClientMetrics | None = None
    consents: Consents | None = None
    advisor_id: ClientId | None = None
    segment: Segment | None = None
    language: Language | None = None
    risk_answers: list[int] | None = None

    def changes(self) -> dict[str, Any]:
        """The new values by `ClientFile` field, `basic` excluded (it is merged, not replaced)."""
        return {
            name: getattr(self, name)
            for name in ("financial", "metrics", "consents", "advisor_id", "segment", "language")
            if name in self.model_fields_set and getattr(self, name) is not None
        } | ({"risk_answers": self.risk_answers} if self.risk_answers is not None else {})


class CallbackOutcome(BaseModel):
    """`client callback`: what the advisor learned (DOMAIN §5). Free text stays encrypted."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal[TaskKind.CALLBACK, TaskKind.PLAN_REVIEW] = TaskKind.CALLBACK
    task_id: Line | None = Field(default=None, description="default: the oldest open one")
    satisfaction: int = Field(ge=1, le=5)
    recommend: int | None = Field(
        default=None, ge=0, le=10, description="0-10, would the client recommend us (for NPS)"
    )
    returns: Note | None = None
    life_situation: Note | None = None
    new_needs: Note | None = None
    advisor_id: ClientId | None = None


class CallbackRecorded(BaseModel):
    task_id: str
    kind: TaskKind
    due_at: datetime
    completed_at: datetime
    late: bool


class PauseService(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason | None = None


class ResumeService(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OffboardClient(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason | None = None


class ErasePersonalData(BaseModel):
    """PIPL deletion request; who asked and the request's reference, no personal data."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    requested_by: Ref = Field(description="staff id, not a name")
    reason: ErasureReason = Field(description="the request's reference")


class TaskView(BaseModel):
    task_id: str
    kind: TaskKind
    due_at: datetime
    status: str


class ClientView(BaseModel):
    """`client show`, and the answer of every command that changes the client."""

    workflow_id: str
    client_id: str
    status: ServiceStatus
    tier: Tier
    risk_profile: RiskProfile
    risk_level: RiskLevel | None
    risk_assessed_at: datetime | None
    advisor_id: str | None
    next_service_due: datetime | None
    next_service_kind: str | None
    open_tasks: list[TaskView]
    missing_fields: list[str]
    file: ClientFile
    erased_at: datetime | None = None
    policy_version: str | None = None
    """The published policy version the client is served under (None: the policy file)."""
    policy_pending: str | None = None
    """A version published and not yet in force for this client."""
    ended_at: datetime | None = None
    """The relationship ended (offboard)."""
    status_reason: str | None = None
    """Why the service was paused or ended, as the pause or offboard gave it: a token sealed
    under the client's key (`[erased]` after the erasure; plain in runs from before sealing)."""
    restricted: bool = False
    """A deletion request waits for a retention hold: the file is not shown (`(restricted)`)."""
    restricted_hold: str | None = None
    restricted_until: datetime | None = None
    """When the hold ends and the record is shredded (None: 10 years, or the hold's period,
    after the relationship ends, which it has not yet)."""


def view_of(s: ServiceState, p: Plan, versions: PolicyInForce | None = None) -> ClientView:
    restriction = s.restriction if s.restricted else None
    if restriction is not None:  # shown without personal data
        s = s.model_copy(
            update={"file": placeholder_file(s.file, RESTRICTED), "risk_assessed_at": None}
        )
    risk = s.risk()
    return ClientView(
        workflow_id=workflow_id_for(s.client_id),
        client_id=s.client_id,
        status=s.status,
        tier=s.tier,
        risk_profile=s.risk_profile(),
        risk_level=risk.level if risk else None,
        risk_assessed_at=s.risk_assessed_at,
        advisor_id=s.file.advisor_id,
        next_service_due=p.service_due,
        next_service_kind=p.service_kind,
        open_tasks=[
            TaskView(
                task_id=t.task_id,
                kind=t.kind,
                due_at=t.due_at,
                status=(TaskStatus.OVERDUE if t.escalated else TaskStatus.DUE).value,
            )
            for t in s.open_tasks
        ],
        missing_fields=s.missing_fields(),
        file=s.file,
        erased_at=s.erased_at,
        policy_version=versions.version_id if versions else None,
        policy_pending=versions.pending.version_id if versions and versions.pending else None,
        ended_at=s.ended_at,
        status_reason=None if restriction is not None else s.status_reason,
        restricted=restriction is not None,
        restricted_hold=restriction.hold if restriction else None,
        restricted_until=restriction.until if restriction else None,
    )
