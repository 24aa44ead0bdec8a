"""Complaints (DOMAIN.md §6): taxonomy, intake and command models, and the state machine.

This module is the vocabulary: the taxonomy, which command is allowed in which stage, and the
models commands carry. The state is in `domain.complaint_state`, the transitions commands make in
`domain.complaint_transitions` and those the clock makes in `domain.complaint_clock`.

Repeat complaints: a complaint's *matter* is `<client_id>:<matter>` where `matter` is the
reference given at intake (a product code, order or case reference — never free text), or, when
none is given, the category the intake already knows. Another submission from the same client on
the same matter while the first complaint is open is merged into it; without a matter or a
category at intake a submission always opens a new complaint (a later assessment does not
re-key it: the matter identifies the grievance as the client filed it).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    model_validator,
)

from domain.enums import Channel, ComplaintStage, Severity
from domain.identifiers import MatterRef, Ref
from domain.sealed import Sealable
from domain.text import FreeText

Stage = ComplaintStage

Text = Annotated[str, FreeText(min_length=1, max_length=8000, multiline=True)]
SealedText = Annotated[Text, Sealable()]
"""A text that may hold a token sealed under the client's own key (`domain.sealed`)."""
"""What the complaint's people write (content, findings, measures, reasons): may run to lines."""
Scalar = str | int | bool | None

_COMMAND = ConfigDict(frozen=True, extra="forbid")
_PHONE = r"^\+?[0-9][0-9 ()-]{4,30}$"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class ComplaintCategory(StrEnum):
    PRODUCT_PERFORMANCE = "product_performance"
    SUITABILITY = "suitability"  # mis-selling: a product above the client's risk level
    FEES = "fees"
    DISCLOSURE = "disclosure"
    SERVICE_ATTITUDE = "service_attitude"
    TRANSACTION_PROCESSING = "transaction_processing"
    PRIVACY = "privacy"
    OTHER = "other"


class RootCause(StrEnum):
    """What the investigation found, for the periodic cause analysis (投诉分析与改进)."""

    PRODUCT_DESIGN = "product_design"
    SALES_PRACTICE = "sales_practice"
    RISK_ASSESSMENT = "risk_assessment"
    DISCLOSURE_GAP = "disclosure_gap"
    PRICING_ERROR = "pricing_error"
    PROCESS_GAP = "process_gap"
    SYSTEM_FAILURE = "system_failure"
    STAFF_CONDUCT = "staff_conduct"
    THIRD_PARTY = "third_party"
    MARKET_MOVEMENT = "market_movement"
    DATA_HANDLING = "data_handling"
    CLIENT_MISUNDERSTANDING = "client_misunderstanding"
    OTHER = "other"


class Outcome(StrEnum):
    RESOLVED = "resolved"
    NO_RESPONSE = "no_response"
    WITHDRAWN = "withdrawn"


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ASSESS = "assess"
    INVESTIGATE = "investigate"
    RESOLVE = "resolve"
    FOLLOW_UP = "follow-up"
    EXTEND = "extend"
    REASSIGN = "reassign"
    WITHDRAW = "withdraw"
    MERGE_REPEAT = "merge-repeat"
    ESCALATE = "escalate"
    WARN = "warn"
    BREACH = "breach"
    SURVEY = "survey"


OPEN = frozenset(Stage) - {Stage.CLOSED, Stage.WITHDRAWN}
DECISION_PENDING = frozenset({Stage.ASSESSMENT, Stage.INVESTIGATION, Stage.RESOLUTION})
"""The stages during which the decision deadline runs; the resolution is the decision."""
HANDLED = frozenset({Stage.INVESTIGATION, Stage.RESOLUTION, Stage.FOLLOW_UP})

ALLOWED: dict[Action, frozenset[Stage]] = {
    Action.ACKNOWLEDGE: frozenset({Stage.INTAKE}),
    Action.ASSESS: frozenset({Stage.ASSESSMENT}),
    Action.INVESTIGATE: frozenset({Stage.INVESTIGATION}),
    Action.RESOLVE: frozenset({Stage.RESOLUTION}),
    Action.FOLLOW_UP: frozenset({Stage.FOLLOW_UP}),
    # An extension is for a case the assessment found complex, and is granted before the decision.
    Action.EXTEND: frozenset({Stage.INVESTIGATION, Stage.RESOLUTION}),
    # The first handler is named by the assessment; reassigning changes one already named.
    Action.REASSIGN: HANDLED,
    Action.WITHDRAW: OPEN,
    Action.MERGE_REPEAT: OPEN,
    Action.ESCALATE: frozenset({Stage.ASSESSMENT}),
    Action.WARN: DECISION_PENDING,
    Action.BREACH: DECISION_PENDING,
    Action.SURVEY: frozenset({Stage.FOLLOW_UP}),
}
_COMMANDS: tuple[Action, ...] = (
    Action.ASSESS,
    Action.INVESTIGATE,
    Action.RESOLVE,
    Action.FOLLOW_UP,
    Action.EXTEND,
    Action.REASSIGN,
    Action.WITHDRAW,
)
WAITING_FOR = {
    Stage.INTAKE: "waiting to be acknowledged",
    Stage.ASSESSMENT: "waiting for its assessment",
    Stage.INVESTIGATION: "under investigation",
    Stage.RESOLUTION: "waiting for a resolution plan",
    Stage.FOLLOW_UP: "waiting for the client's satisfaction",
    Stage.CLOSED: "closed",
    Stage.WITHDRAWN: "withdrawn",
}


class ComplaintRuleError(ValueError):
    """A refused transition; the message names the stage and the problem, never personal data."""


def allowed_commands(stage: Stage) -> list[str]:
    return [a.value for a in _COMMANDS if stage in ALLOWED[a]]


def escalated(severity: Severity) -> Severity:
    """One level up; critical stays critical."""
    order = list(Severity)
    return order[min(order.index(severity) + 1, len(order) - 1)]


def matter_key(client_id: str, matter: str | None) -> str | None:
    return f"{client_id}:{matter}" if matter else None


ERASED_TEXT = "[erased]"
"""What stands in a complaint's personal fields once its client is erased (PIPL)."""


class Capacity(StrEnum):
    """In what capacity the complainant complains (CBIRC 2020: complaints by authorised
    representatives and heirs are accepted)."""

    CLIENT = "client"  # the client themself
    REPRESENTATIVE = "representative"  # authorised by the client (a power of attorney)
    HEIR = "heir"  # the client's successor


class Complainant(BaseModel):
    """Personal data: lives only in encrypted payloads and `*_enc` columns. A representative or
    an heir is the complainant, answered on their own contact details, sealed alike."""

    model_config = _COMMAND
    name: Annotated[str, FreeText(min_length=1, max_length=100), Sealable()]
    phone: Annotated[str, FreeText(max_length=32, pattern=_PHONE), Sealable()] | None = None
    email: Annotated[str, FreeText(max_length=254, pattern=_EMAIL), Sealable()] | None = None
    capacity: Capacity | None = Field(
        default=None,
        description="unset: the client themself (so a complainant recorded before it reads and "
        "dumps as it did)",
    )
    authority: Ref | None = Field(
        default=None,
        description="reference of the document that entitles a representative or heir (a "
        "power of attorney, a succession certificate); not its content",
    )

    @model_validator(mode="after")
    def _reachable(self) -> Complainant:
        # An erased complainant is answered on nothing: nobody is left to answer.
        if not (self.phone or self.email) and self.name != ERASED_TEXT:
            raise ValueError("a complainant needs a phone or an email to be answered on")
        if self.capacity not in (None, Capacity.CLIENT) and self.authority is None:
            raise ValueError(
                f"a complainant acting as {self.capacity} needs `authority` (the reference of "
                "the document entitling them)"
            )
        return self


class ComplaintIntake(BaseModel):
    """What is recorded at receipt: channel, time, complainant, content (and optional keys).
    The content and the complainant's details arrive sealed under the client's own key
    (`commands.complaint_open`); plaintext in histories recorded before that."""

    model_config = _COMMAND
    client_id: Ref
    channel: Channel
    content: SealedText
    complainant: Complainant
    received_at: AwareDatetime | None = Field(default=None, description="default: the start")
    subject: Ref | None = Field(default=None, description="the staff member complained about")
    matter: MatterRef | None = Field(default=None, description="reference repeats merge on")
    category: ComplaintCategory | None = None
    severity: Severity = Field(default=Severity.MEDIUM, description="provisional until assessed")
    incident_date: date | None = Field(
        default=None,
        description="when what is complained of happened; the decision clock still runs from "
        "receipt",
    )
    conflicted: list[Ref] = Field(
        default=[],
        max_length=20,
        description="staff with a direct interest, who may not handle, supervise or approve it "
        "(the open command adds the client's advisor)",
    )

    @model_validator(mode="after")
    def _incident_before_receipt(self) -> ComplaintIntake:
        if self.incident_date and self.received_at and self.incident_date > self.received_at.date():
            raise ValueError("incident_date is after received_at: what happened comes first")
        return self

    def matter_key(self) -> str | None:
        return matter_key(self.client_id, self.matter or self.category)

    def erased(self) -> ComplaintIntake:
        """The intake without its person: what an open complaint keeps once its client is
        erased. Ids, channel, dates, category and severity stay (they identify no one)."""
        return self.model_copy(
            update={"content": ERASED_TEXT, "complainant": Complainant(name=ERASED_TEXT)}
        )


class Assessment(BaseModel):
    model_config = _COMMAND
    category: ComplaintCategory
    severity: Severity
    department: Ref
    handler: Ref
    complex: bool = False
    subject: Ref | None = None
    supervisor: Ref | None = None
    by: Ref | None = None


class InvestigationStep(BaseModel):
    model_config = _COMMAND
    findings: SealedText
    evidence: list[SealedText] = Field(default=[], max_length=100)
    root_cause: RootCause | None = None
    done: bool = False
    by: Ref | None = None


class ResolutionPlan(BaseModel):
    model_config = _COMMAND
    measures: SealedText
    owner: Ref
    due: date
    by: Ref | None = None
    # Redress the decision grants the client (CNY), for the regulator's return; optional with a
    # default so plans recorded before it existed still read.
    compensation: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)


class FollowUpAnswer(BaseModel):
    model_config = _COMMAND
    satisfaction: int = Field(ge=1, le=5)
    comment: Annotated[str, FreeText(max_length=4000, multiline=True), Sealable()] = ""
    by: Ref | None = None


class ExtensionRequest(BaseModel):
    model_config = _COMMAND
    reason: SealedText
    approved_by: Ref


class Reassignment(BaseModel):
    model_config = _COMMAND
    department: Ref | None = None
    handler: Ref | None = None
    supervisor: Ref | None = None
    reason: Annotated[str, FreeText(max_length=2000, multiline=True), Sealable()] = ""
    by: Ref | None = None

    @model_validator(mode="after")
    def _something(self) -> Reassignment:
        if not (self.department or self.handler or self.supervisor):
            raise ValueError("name a department, handler or supervisor to reassign to")
        return self


class Withdrawal(BaseModel):
    model_config = _COMMAND
    reason: SealedText
    by: Ref | None = None


class RepeatSubmission(BaseModel):
    """Another submission on an open complaint's matter (its content is personal)."""

    model_config = _COMMAND
    client_id: Ref
    channel: Channel
    content: SealedText
    complainant: Complainant
    received_at: AwareDatetime | None = None


class ComplaintEvent(BaseModel):
    """A timeline entry: `data` is safe to index; `detail` holds free text and stays encrypted."""

    model_config = ConfigDict(frozen=True)
    seq: int
    kind: str
    at: datetime
    stage_from: Stage | None
    stage_to: Stage
    actor: str | None = None
    data: dict[str, Scalar] = {}
    detail: dict[str, JsonValue] | None = None
