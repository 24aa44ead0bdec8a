"""Contact consents per channel and purpose (PIPL: consent per purpose; a client may refuse all)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_serializer


class ContactChannel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    PHONE = "phone"
    POST = "post"
    APP = "app"


class Purpose(StrEnum):
    SERVICE = "service"  # callbacks, plan reviews, risk re-assessment
    CARE = "care"  # birthday and holiday greetings
    EVENTS = "events"  # seminars, exchange meetings, outdoor activities
    COMPLAINT = "complaint"  # acknowledgement, progress and outcome of the client's complaint
    PRIVACY = "privacy"  # the answer to the client's own data-subject request (PIPL Art. 50)


ANSWERS = frozenset({Purpose.COMPLAINT, Purpose.PRIVACY})
"""Answers the firm owes the client by law: sent on any channel the client granted for
anything, do-not-contact or not."""


class Consents(BaseModel):
    """`granted[channel]` lists the purposes the client agreed to on that channel.

    Complaint correspondence about the client's own complaint, and the answer to their own
    data-subject request, are legal duties (`ANSWERS`), so they are allowed on any channel the
    client used or granted for anything, even under do-not-contact.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    granted: dict[ContactChannel, frozenset[Purpose]] = {}
    do_not_contact: bool = False

    @field_serializer("granted")
    def _sorted(self, granted: dict[ContactChannel, frozenset[Purpose]]) -> dict[str, list[str]]:
        # Sets iterate in a per-process order (hash seed): serialise sorted, so the same
        # consents always make the same payload and the same projection row.
        return {
            c.value: sorted(p.value for p in purposes) for c, purposes in sorted(granted.items())
        }

    def allows(self, channel: ContactChannel, purpose: Purpose) -> bool:
        if purpose in ANSWERS:
            return channel in self.granted
        if self.do_not_contact:
            return False
        return purpose in self.granted.get(channel, frozenset())

    def channels_for(self, purpose: Purpose) -> list[ContactChannel]:
        return [c for c in ContactChannel if self.allows(c, purpose)]
