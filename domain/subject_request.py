"""Data-subject requests (PIPL Art. 44-47): a client asks to see and copy, correct or delete
their personal information, and the firm answers within the policy's period.

A request is received (its deadline set from receipt, counted like a complaint's, DOMAIN §8),
acknowledged to the client at once, then answered by staff once they have verified who is
asking: fulfilled (a sealed copy produced, the correction applied through the client's
workflow, the client erased) or rejected for a stated reason. A request still unanswered at its
deadline is flagged overdue for good and the privacy officer is told; it still has to be
answered. The state holds no personal data: what a correction changes travels beside it, in
the workflow's (encrypted) input.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from domain import deadlines
from domain.identifiers import Ref
from domain.policy import Policy


class SubjectRequestKind(StrEnum):
    ACCESS = "access"  # Art. 44-45: see and copy
    CORRECTION = "correction"  # Art. 46
    DELETION = "deletion"  # Art. 47


class SubjectRequestStatus(StrEnum):
    RECEIVED = "received"
    OPEN = "open"  # acknowledged, waiting to be answered
    FULFILLED = "fulfilled"
    REJECTED = "rejected"


class RejectionReason(StrEnum):
    """Why a request is not carried out; the client is told which (PIPL Art. 50)."""

    IDENTITY_NOT_VERIFIED = "identity_not_verified"
    NOT_THE_SUBJECT = "not_the_subject"
    RETENTION_REQUIRED = "retention_required"  # another law keeps the data (AML, a legal hold)
    NOTHING_TO_CORRECT = "nothing_to_correct"
    UNFOUNDED = "unfounded"


ANSWERED = frozenset({SubjectRequestStatus.FULFILLED, SubjectRequestStatus.REJECTED})


class SubjectRequestError(ValueError):
    """A refused step; the message names the request and the problem, never personal data."""


class SealedCopy(BaseModel):
    """Where an access request's copy was written, and how to check it: no content."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str
    sha256: str
    size: int
    sections: dict[str, int]
    """How many records of each kind the copy holds (client file, complaints, tasks ...)."""


class SubjectRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    client_id: str
    kind: SubjectRequestKind
    status: SubjectRequestStatus = SubjectRequestStatus.RECEIVED
    received_at: datetime
    due_at: datetime
    overdue: bool = False
    escalated_to: str | None = None
    acknowledged_at: datetime | None = None
    answered_at: datetime | None = None
    answered_by: str | None = None
    rejection: RejectionReason | None = None
    sealed_copy: SealedCopy | None = None
    erased_complaints: int | None = None
    restricted_until: datetime | None = None
    """A deletion under a retention hold: the client is stored only until then, then shredded."""
    hold: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status not in ANSWERED

    def refuse(self, verb: str, problem: str) -> SubjectRequestError:
        return SubjectRequestError(
            f"cannot {verb}: request {self.request_id} ({self.kind}, {self.status}) {problem}"
        )

    def answerable(self, verb: str) -> None:
        if not self.is_open:
            raise self.refuse(verb, "was already answered")


class SubjectRequestEvent(BaseModel):
    """A timeline entry: ids, codes and instants only."""

    model_config = ConfigDict(frozen=True)
    seq: int
    kind: str
    at: datetime
    actor: str | None = None
    data: dict[str, str | int | bool | None] = {}


def request_due(received_at: datetime, policy: Policy) -> datetime:
    return deadlines.due_after(received_at, policy.privacy.subject_request_within, policy.zone())


def receive(
    request_id: str,
    client_id: str,
    kind: SubjectRequestKind,
    received_at: datetime,
    policy: Policy,
) -> SubjectRequest:
    return SubjectRequest(
        request_id=request_id,
        client_id=client_id,
        kind=kind,
        received_at=received_at,
        due_at=request_due(received_at, policy),
    )


def acknowledge(r: SubjectRequest, now: datetime) -> SubjectRequest:
    if r.status is not SubjectRequestStatus.RECEIVED:
        return r  # answered before the acknowledgement went out: nothing left to open
    return r.model_copy(update={"status": SubjectRequestStatus.OPEN, "acknowledged_at": now})


def fulfil(
    r: SubjectRequest,
    now: datetime,
    by: Ref,
    copy: SealedCopy | None = None,
    erased_complaints: int | None = None,
    restricted_until: datetime | None = None,
    hold: str | None = None,
) -> SubjectRequest:
    r.answerable("fulfil")
    if r.kind is SubjectRequestKind.ACCESS and copy is None:
        raise r.refuse("fulfil", "— an access request is fulfilled by its copy")
    return r.model_copy(
        update={
            "status": SubjectRequestStatus.FULFILLED,
            "answered_at": now,
            "answered_by": by,
            "sealed_copy": copy,
            "erased_complaints": erased_complaints,
            "restricted_until": restricted_until,
            "hold": hold,
        }
    )


def reject(r: SubjectRequest, now: datetime, by: Ref, reason: RejectionReason) -> SubjectRequest:
    r.answerable("reject")
    if reason is RejectionReason.NOTHING_TO_CORRECT and r.kind is not SubjectRequestKind.CORRECTION:
        raise r.refuse("reject", f"— {reason} answers correction requests only")
    return r.model_copy(
        update={
            "status": SubjectRequestStatus.REJECTED,
            "answered_at": now,
            "answered_by": by,
            "rejection": reason,
        }
    )


def mark_overdue(r: SubjectRequest, now: datetime, officer: str) -> SubjectRequest:
    """The deadline passed unanswered: flagged for good, the officer in charge; still to answer."""
    if not r.is_open or r.overdue:
        raise r.refuse("escalate", "is not an open request within its deadline")
    if now < r.due_at:
        raise r.refuse("escalate", f"— its deadline {r.due_at.isoformat()} has not passed")
    return r.model_copy(update={"overdue": True, "escalated_to": officer})
