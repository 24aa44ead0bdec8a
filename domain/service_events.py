"""What the service calendar plans: one event, its kind, when it falls due and its key."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict

from domain.consent import Purpose


class ServiceEventKind(StrEnum):
    CALLBACK = "callback"
    BIRTHDAY_GREETING = "birthday_greeting"
    HOLIDAY_GREETING = "holiday_greeting"
    PLAN_REVIEW = "plan_review"
    RISK_ASSESSMENT = "risk_assessment"


_GREETINGS = frozenset({ServiceEventKind.BIRTHDAY_GREETING, ServiceEventKind.HOLIDAY_GREETING})
_KIND_ORDER = {kind: i for i, kind in enumerate(ServiceEventKind)}

UtcDatetime = Annotated[AwareDatetime, AfterValidator(lambda d: d.astimezone(UTC))]
"""Timezone-aware on the way in, UTC on the way out."""


class ServiceEvent(BaseModel):
    """`key` is the idempotency key of the event: stable while the event waits, free of
    personal data, e.g. "callback:2027-03-14T02:00:00Z" or "birthday_greeting:2027"."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: ServiceEventKind
    due_at: UtcDatetime
    key: str

    @property
    def purpose(self) -> Purpose:
        """The consent purpose a contact for this event needs."""
        return Purpose.CARE if self.kind in _GREETINGS else Purpose.SERVICE

    def sort_key(self) -> tuple[datetime, int, str]:
        """Due time first; simultaneous events in kind order, then by key: a total order, so
        replays plan the same sequence."""
        return (self.due_at, _KIND_ORDER[self.kind], self.key)
