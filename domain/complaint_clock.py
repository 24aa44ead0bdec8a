"""What the passing of time does to a complaint: escalations, warnings, breaches, the survey.

The workflow's timers call these when a deadline from `domain.deadlines` falls due.
Escalating raises the severity one level and puts a supervisor in charge (the complaint's own,
or the supervision team the workflow was started with); the work itself carries on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.complaint import Action, Outcome, Stage, escalated
from domain.complaint_state import Change, Complaint


def _escalation(c: Complaint, supervision: str) -> dict[str, Any]:
    return {
        "severity": escalated(c.severity),
        "escalated": True,
        "supervisor": c.supervisor or supervision,
    }


def escalate_assessment(c: Complaint, now: datetime, supervision: str) -> Change:
    """The assessment target passed without an assessment."""
    c.guard(Action.ESCALATE)
    if c.assessment_escalated:
        raise c.refuse(Action.ESCALATE, "was already escalated for its assessment")
    up = _escalation(c, supervision)
    return c.change(
        "assessment_overdue",
        data={"severity": up["severity"], "supervisor": up["supervisor"]},
        assessment_escalated=True,
        **up,
    )


def warn(c: Complaint, now: datetime) -> Change:
    """The handler was told the decision deadline approaches (once per deadline)."""
    c.guard(Action.WARN)
    return c.change(
        "deadline_warning",
        data={"sla_deadline": c.sla_deadline.isoformat()},
        warned_for=c.sla_deadline,
    )


def breach(c: Complaint, now: datetime, supervision: str) -> Change:
    """The decision deadline passed: flagged for good, escalated, and the work goes on."""
    c.guard(Action.BREACH)
    up = _escalation(c, supervision)
    return c.change(
        "sla_breached",
        data={
            "sla_deadline": c.sla_deadline.isoformat(),
            "severity": up["severity"],
            "supervisor": up["supervisor"],
        },
        sla_breached=True,
        breached_for=c.sla_deadline,
        **up,
    )


def remind_survey(c: Complaint, now: datetime) -> Change:
    c.guard(Action.SURVEY)
    count = c.survey_reminders_sent + 1
    return c.change("survey_reminder", data={"reminder": count}, survey_reminders_sent=count)


def expire_survey(c: Complaint, now: datetime) -> Change:
    """No answer to the satisfaction survey in time: closed, outcome no_response."""
    c.guard(Action.SURVEY)
    return c.change(
        "survey_expired",
        data={"outcome": Outcome.NO_RESPONSE.value},
        stage=Stage.CLOSED,
        outcome=Outcome.NO_RESPONSE,
        closed_at=now,
    )
