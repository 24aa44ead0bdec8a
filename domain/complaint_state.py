"""A complaint's state, and the `Change` every transition returns.

`Complaint` holds no personal data — the complainant and free text travel beside it (the intake
and event details) — so the whole state can be returned, queried and logged by id. Transitions
(`domain.complaint_transitions`, `domain.complaint_clock`) are pure functions from a state to a
`Change` (the new state plus the event to record) or a `ComplaintRuleError`: an update validator
can try one and throw the result away, and the handler then applies the very same function.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue

from domain import deadlines
from domain.complaint import (
    ALLOWED,
    WAITING_FOR,
    Action,
    Capacity,
    ComplaintCategory,
    ComplaintIntake,
    ComplaintRuleError,
    Outcome,
    RootCause,
    Scalar,
    Stage,
    allowed_commands,
)
from domain.enums import Channel, Severity
from domain.policy import Policy


class Complaint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    complaint_id: str
    client_id: str
    channel: Channel
    stage: Stage = Stage.INTAKE
    category: ComplaintCategory | None = None
    severity: Severity
    department: str | None = None
    handler: str | None = None
    supervisor: str | None = None
    subject: str | None = None
    complex: bool = False
    matter_key: str | None = None
    received_at: datetime
    acknowledgement_due: datetime
    assessment_due: datetime
    decision_from: datetime
    sla_deadline: datetime
    sla_breached: bool = False
    escalated: bool = False
    extensions: int = 0
    reopen_count: int = 0
    merged_count: int = 0
    evidence_count: int = 0
    root_cause: RootCause | None = None
    plan_owner: str | None = None
    plan_due: date | None = None
    compensation: Decimal | None = None  # of the latest decision (ResolutionPlan)
    satisfaction: int | None = None
    outcome: Outcome | None = None
    acknowledged_at: datetime | None = None
    assessed_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    survey_sent_at: datetime | None = None
    survey_reminders_sent: int = 0
    warned_for: datetime | None = None
    breached_for: datetime | None = None
    assessment_escalated: bool = False
    # Record completeness (optional, so states recorded before they existed still read):
    incident_date: date | None = None
    complainant_capacity: Capacity = Capacity.CLIENT
    conflicted: list[str] = []
    """Staff with a direct interest (recusal): never handler, supervisor or approver."""
    extension_approved_by: str | None = None

    @property
    def is_open(self) -> bool:
        return self.stage not in (Stage.CLOSED, Stage.WITHDRAWN)

    def guard(self, action: Action) -> None:
        """Refuses `action` outside its stages, naming the stage and what is allowed instead."""
        if self.stage in ALLOWED[action]:
            return
        stages = ", ".join(f"'{s}'" for s in Stage if s in ALLOWED[action])
        now = ", ".join(allowed_commands(self.stage)) or "nothing, the complaint is over"
        raise ComplaintRuleError(
            f"cannot {action}: complaint {self.complaint_id} is in stage '{self.stage}' "
            f"({WAITING_FOR[self.stage]}); {action} is allowed only in {stages}. "
            f"Allowed now: {now}"
        )

    def refuse(self, action: Action, problem: str) -> ComplaintRuleError:
        return ComplaintRuleError(
            f"cannot {action}: complaint {self.complaint_id} (stage '{self.stage}') {problem}"
        )

    def not_subject(
        self, action: Action, role: str, staff: str | None, subject: str | None
    ) -> None:
        """The handler (or supervisor, or approver) must not be the person complained about,
        nor anyone else with a direct interest (recusal: the client's advisor, those named)."""
        if staff is not None and staff == subject:
            raise self.refuse(
                action, f"— {role} '{staff}' is the staff member complained about; choose another"
            )
        if staff is not None and staff in self.conflicted:
            raise self.refuse(
                action,
                f"— {role} '{staff}' has a direct interest in it (the client's advisor, or named "
                "as conflicted) and must recuse; choose another",
            )

    def change(
        self,
        kind: str,
        *,
        actor: str | None = None,
        data: dict[str, Scalar] | None = None,
        detail: dict[str, JsonValue] | None = None,
        **updates: Any,
    ) -> Change:
        return Change(
            complaint=self.model_copy(update=updates),
            kind=kind,
            actor=actor,
            data=data or {},
            detail=detail,
        )

    def note(self, kind: str, data: dict[str, Scalar]) -> Change:
        """A fact about the complaint that changes no state (e.g. a notification that failed)."""
        return self.change(kind, data=data)


class Change(BaseModel):
    model_config = ConfigDict(frozen=True)
    complaint: Complaint
    kind: str
    actor: str | None = None
    data: dict[str, Scalar] = {}
    detail: dict[str, JsonValue] | None = None


def receive(
    complaint_id: str, intake: ComplaintIntake, received_at: datetime, policy: Policy
) -> Change:
    """The complaint as recorded at receipt: every deadline runs from `received_at`."""
    complaint = Complaint(
        complaint_id=complaint_id,
        client_id=intake.client_id,
        channel=intake.channel,
        category=intake.category,
        severity=intake.severity,
        subject=intake.subject,
        matter_key=intake.matter_key(),
        received_at=received_at,
        acknowledgement_due=deadlines.acknowledgement_due(received_at, policy),
        assessment_due=deadlines.assessment_due(received_at, policy),
        decision_from=received_at,
        sla_deadline=deadlines.decision_due(received_at, policy),
        incident_date=intake.incident_date,
        complainant_capacity=intake.complainant.capacity or Capacity.CLIENT,
        conflicted=sorted(set(intake.conflicted)),
    )
    data: dict[str, Scalar] = {
        "channel": intake.channel.value,
        "severity": intake.severity.value,
        "category": intake.category.value if intake.category else None,
        "sla_deadline": complaint.sla_deadline.isoformat(),
    }
    # Only when given, so a receipt reads as it did before these existed.
    if intake.incident_date is not None:
        data["incident_date"] = intake.incident_date.isoformat()
    if intake.complainant.capacity not in (None, Capacity.CLIENT):
        data["complainant_capacity"] = intake.complainant.capacity.value
    return Change(complaint=complaint, kind="received", data=data)
