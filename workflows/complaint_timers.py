"""Which deadline a complaint waits for next, and what happens when it falls due.

The workflow keeps a single timer: after every change it asks `next_due` again, so a deadline
that moved (an extension, an assessment finding the case complex, a reopening) re-arms it.
Each due item records on the complaint that it happened (`warned_for`, `breached_for`, ...), so
it is never due twice for the same deadline.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain import complaint_clock as clock
from domain import deadlines
from domain.complaint import DECISION_PENDING, Stage
from domain.complaint_state import Change, Complaint
from domain.policy import Policy


class DueKind(StrEnum):
    # Listed in the order they go when due at the same instant.
    ASSESSMENT_OVERDUE = "assessment-overdue"
    SLA_BREACH = "sla-breach"
    DEADLINE_WARNING = "deadline-warning"
    SURVEY_REMINDER = "survey-reminder"
    SURVEY_TIMEOUT = "survey-timeout"


_ORDER = list(DueKind)


@dataclass(frozen=True)
class Due:
    kind: DueKind
    at: datetime


def _candidates(c: Complaint, policy: Policy, now: datetime) -> list[Due]:
    due: list[Due] = []
    if c.stage is Stage.ASSESSMENT and not c.assessment_escalated:
        due.append(Due(DueKind.ASSESSMENT_OVERDUE, c.assessment_due))
    if c.stage in DECISION_PENDING and c.breached_for != c.sla_deadline:
        due.append(Due(DueKind.SLA_BREACH, c.sla_deadline))
        # The warning is for the handler; before assessment there is none, and the assessment
        # target escalates first. Past the deadline a warning would only repeat the breach.
        if c.handler and c.warned_for != c.sla_deadline and now < c.sla_deadline:
            due.append(Due(DueKind.DEADLINE_WARNING, deadlines.warning_at(c.sla_deadline, policy)))
    if c.stage is Stage.FOLLOW_UP and c.survey_sent_at is not None:
        reminders = deadlines.survey_reminders_at(c.survey_sent_at, policy)
        if c.survey_reminders_sent < len(reminders):
            due.append(Due(DueKind.SURVEY_REMINDER, reminders[c.survey_reminders_sent]))
        due.append(
            Due(DueKind.SURVEY_TIMEOUT, deadlines.survey_expires_at(c.survey_sent_at, policy))
        )
    return due


def next_due(
    c: Complaint, policy: Policy, now: datetime, skip: Set[Due] = frozenset()
) -> Due | None:
    """The earliest thing the complaint waits for on the clock, or None if nothing is timed;
    `skip`: those the rules refused when they fell due."""
    due = [d for d in _candidates(c, policy, now) if d not in skip]
    if not due:
        return None
    return min(due, key=lambda d: (d.at, _ORDER.index(d.kind)))


def apply_due(c: Complaint, due: Due, now: datetime, supervision: str) -> Change:
    if due.kind is DueKind.ASSESSMENT_OVERDUE:
        return clock.escalate_assessment(c, now, supervision)
    if due.kind is DueKind.SLA_BREACH:
        return clock.breach(c, now, supervision)
    if due.kind is DueKind.DEADLINE_WARNING:
        return clock.warn(c, now)
    if due.kind is DueKind.SURVEY_REMINDER:
        return clock.remind_survey(c, now)
    return clock.expire_survey(c, now)
