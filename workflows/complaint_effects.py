"""What a complaint shows the outside at each change: search attributes, the UI's current
details, and who is told. Pure functions of the (non-personal) state, so they can never leak a
name, phone or free text into indexed or plain-text places.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

from domain.complaint import Capacity, ComplaintIntake
from domain.complaint_state import Complaint
from domain.consent import ContactChannel
from domain.enums import Channel
from domain.localtime import shown
from domain.policy import Policy
from workflows import search_attributes as sa

Recipient = Literal["client", "handler", "supervisor"]


def _attributes(c: Complaint) -> list[tuple[SearchAttributeKey[Any], Any]]:
    return [
        (sa.CLIENT_ID, c.client_id),
        (sa.COMPLAINT_STAGE, c.stage.value),
        (sa.COMPLAINT_SEVERITY, c.severity.value),
        (sa.COMPLAINT_CATEGORY, c.category.value if c.category else None),
        (sa.COMPLAINT_CHANNEL, c.channel.value),
        (sa.RESPONSIBLE_DEPARTMENT, c.department),
        (sa.SLA_DEADLINE, c.sla_deadline),
        (sa.SLA_BREACHED, c.sla_breached),
        (sa.REOPEN_COUNT, c.reopen_count),
    ]


def opening_search_attributes(intake: ComplaintIntake) -> TypedSearchAttributes:
    """What a complaint is found by from the moment it starts, before its first task runs
    (whoever starts it: the `open` command, or a matter's registry as its child)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.CLIENT_ID, intake.client_id),
            SearchAttributePair(sa.COMPLAINT_STAGE, "intake"),
            SearchAttributePair(sa.COMPLAINT_CHANNEL, intake.channel.value),
            SearchAttributePair(sa.SLA_BREACHED, False),
            SearchAttributePair(sa.REOPEN_COUNT, 0),
        ]
    )


def opening_summary(complaint_id: str, intake: ComplaintIntake) -> str:
    return f"Complaint {complaint_id} · {intake.channel.value}"


def search_attribute_updates(
    c: Complaint, published: Complaint | None
) -> list[SearchAttributeUpdate[Any]]:
    """Only what changed since `published` (None: everything that has a value)."""
    before = {key.name: value for key, value in _attributes(published)} if published else {}
    updates: list[SearchAttributeUpdate[Any]] = []
    for key, value in _attributes(c):
        if published is None and value is None:
            continue
        if published is not None and before[key.name] == value:
            continue
        updates.append(key.value_unset() if value is None else key.value_set(value))
    return updates


def current_details(c: Complaint, last: str, policy: Policy) -> str:
    """Markdown for the Temporal UI: ids and facts only, times in the firm's zone (a supervisor
    reads "due 19 March 00:00", not the UTC instant of the evening before)."""
    deadline = shown(c.sla_deadline, policy.zone(), policy.timezone)
    if c.sla_breached:
        deadline += " — **breached**"
    handler = f"{c.handler} ({c.department})" if c.handler else "not assigned yet"
    extended = f" · extended {c.extensions}x" if c.extensions else ""
    if c.extensions and c.extension_approved_by:
        extended += f" (approved by {c.extension_approved_by})"
    lines = [
        f"**Complaint** `{c.complaint_id}` · stage **{c.stage.value}** · severity {c.severity}",
        f"**Handler:** {handler}" + (f" · **Supervisor:** {c.supervisor}" if c.supervisor else ""),
        f"**Decision due:** {deadline}"
        + extended
        + (f" · reopened {c.reopen_count}x" if c.reopen_count else ""),
        f"**Last:** {last}",
    ]
    record = []  # ids, dates and codes only, like every line here
    if c.complainant_capacity is not Capacity.CLIENT:
        record.append(f"filed by a {c.complainant_capacity.value}")
    if c.incident_date is not None:
        record.append(f"incident {c.incident_date.isoformat()}")
    if record:
        lines.insert(3, "**Record:** " + " · ".join(record))
    return "  \n".join(lines)


@dataclass(frozen=True)
class Notice:
    recipient: Recipient
    template: str


_NOTICES: dict[str, tuple[Notice, ...]] = {
    "assessed": (Notice("handler", "complaint_assigned"),),
    "reassigned": (Notice("handler", "complaint_assigned"),),
    "assessment_overdue": (Notice("supervisor", "complaint_assessment_overdue"),),
    "deadline_warning": (Notice("handler", "complaint_deadline_warning"),),
    "sla_breached": (
        Notice("supervisor", "complaint_sla_breached"),
        Notice("handler", "complaint_sla_breached"),
    ),
    # The client is told each time the deadline moves (the national rule).
    "extended": (Notice("client", "complaint_extended"),),
    "resolved": (Notice("client", "complaint_resolution"), Notice("client", "complaint_survey")),
    "survey_reminder": (Notice("client", "complaint_survey_reminder"),),
    "reopened": (Notice("handler", "complaint_reopened"),),
    "closed": (Notice("client", "complaint_closed"),),
    "survey_expired": (Notice("client", "complaint_closed"),),
    "withdrawn": (Notice("client", "complaint_withdrawn"),),
    "merged": (Notice("client", "complaint_merged"),),
}


def notices_for(kind: str, c: Complaint) -> list[tuple[Notice, str | None]]:
    """(notice, staff id) for each notification the event calls for. A handler notice while no
    handler is named goes to the supervisor instead, so a warning is never silently dropped."""
    out: list[tuple[Notice, str | None]] = []
    for notice in _NOTICES.get(kind, ()):
        target: tuple[Notice, str | None]
        if notice.recipient == "client":
            target = (notice, None)
        elif notice.recipient == "handler" and c.handler:
            target = (notice, c.handler)
        elif notice.recipient == "supervisor" or c.supervisor:
            target = (Notice("supervisor", notice.template), c.supervisor)
        else:
            continue
        if target not in out:
            out.append(target)
    return out


def notice_params(c: Complaint, kind: str) -> dict[str, Any]:
    """What a template may show: never personal data (`notifications.params` is plain JSON)."""
    return {
        "complaint_id": c.complaint_id,
        "event": kind,
        "stage": c.stage.value,
        "severity": c.severity.value,
        "sla_deadline": c.sla_deadline.isoformat(),
        "outcome": c.outcome.value if c.outcome else None,
    }


_PREFERRED = {
    Channel.HOTLINE: ContactChannel.PHONE,
    Channel.EMAIL: ContactChannel.EMAIL,
    Channel.ONLINE: ContactChannel.APP,
}


def preferred_channel(c: Complaint) -> ContactChannel | None:
    """Answer the client the way they came in, when they consented to it."""
    return _PREFERRED.get(c.channel)
