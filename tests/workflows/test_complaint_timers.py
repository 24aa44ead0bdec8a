"""Which deadline the workflow waits for next, and what the outside sees at each change (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from domain import complaint_transitions as t
from domain import deadlines
from domain.complaint import (
    Assessment,
    ComplaintIntake,
    ExtensionRequest,
    InvestigationStep,
    ResolutionPlan,
    Stage,
)
from domain.complaint_state import Complaint, receive
from domain.personal_data import mask_value
from domain.policy import Policy
from workflows import search_attributes as sa
from workflows.complaint_effects import (
    current_details,
    notice_params,
    notices_for,
    search_attribute_updates,
)
from workflows.complaint_timers import Due, DueKind, apply_due, next_due

POLICY = Policy()
T0 = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
INTAKE = ComplaintIntake.model_validate(
    {
        "client_id": "c-1",
        "channel": "hotline",
        "content": "x",
        "complainant": {"name": "Sun Li", "phone": "13900139000"},
    }
)


def waiting() -> Complaint:
    return t.acknowledge(receive("k-1", INTAKE, T0, POLICY).complaint, T0, "sent").complaint


def handled() -> Complaint:
    cmd = Assessment(category="fees", severity="low", department="ops", handler="h-1")
    return t.assess(waiting(), cmd, T0, POLICY).complaint


def test_nothing_is_timed_before_the_acknowledgement() -> None:
    assert next_due(receive("k-1", INTAKE, T0, POLICY).complaint, POLICY, T0) is None


def test_an_unassessed_complaint_waits_for_its_assessment_target_then_the_deadline() -> None:
    c = waiting()
    assert next_due(c, POLICY, T0) == Due(DueKind.ASSESSMENT_OVERDUE, c.assessment_due)
    c = apply_due(c, Due(DueKind.ASSESSMENT_OVERDUE, c.assessment_due), T0, "sup").complaint
    # No handler to warn yet: the breach is next.
    assert next_due(c, POLICY, T0) == Due(DueKind.SLA_BREACH, c.sla_deadline)


def test_a_handled_complaint_is_warned_then_breached_then_waits_for_no_timer() -> None:
    c = handled()
    warning = deadlines.warning_at(c.sla_deadline, POLICY)
    assert next_due(c, POLICY, T0) == Due(DueKind.DEADLINE_WARNING, warning)
    c = apply_due(c, Due(DueKind.DEADLINE_WARNING, warning), warning, "sup").complaint
    assert next_due(c, POLICY, warning) == Due(DueKind.SLA_BREACH, c.sla_deadline)
    c = apply_due(c, Due(DueKind.SLA_BREACH, c.sla_deadline), c.sla_deadline, "sup").complaint
    assert c.sla_breached and next_due(c, POLICY, c.sla_deadline) is None


def test_no_warning_once_the_deadline_has_passed() -> None:
    c = handled()
    late = c.sla_deadline + timedelta(hours=1)
    assert next_due(c, POLICY, late) == Due(DueKind.SLA_BREACH, c.sla_deadline)


def test_an_extension_rearms_both_the_warning_and_the_breach() -> None:
    c = handled()
    warning = deadlines.warning_at(c.sla_deadline, POLICY)
    c = apply_due(c, Due(DueKind.DEADLINE_WARNING, warning), warning, "sup").complaint
    request = ExtensionRequest(reason="r", approved_by="boss")
    c = t.extend(c, request, warning, POLICY).complaint
    assert next_due(c, POLICY, warning) == Due(
        DueKind.DEADLINE_WARNING, deadlines.warning_at(c.sla_deadline, POLICY)
    )


def test_the_survey_reminds_then_expires() -> None:
    c = t.investigate(handled(), InvestigationStep(findings="f", done=True), T0).complaint
    plan = ResolutionPlan(measures="m", owner="o", due=date(2027, 3, 9))
    c = t.resolve(c, plan, T0, POLICY).complaint
    reminders = deadlines.survey_reminders_at(T0, POLICY)
    expires = deadlines.survey_expires_at(T0, POLICY)
    seen = []
    now = T0
    while c.stage is Stage.FOLLOW_UP:
        due = next_due(c, POLICY, now)
        assert due is not None
        seen.append(due)
        now = due.at
        c = apply_due(c, due, now, "sup").complaint
    assert seen == [
        Due(DueKind.SURVEY_REMINDER, reminders[0]),
        Due(DueKind.SURVEY_REMINDER, reminders[1]),
        Due(DueKind.SURVEY_TIMEOUT, expires),
    ]
    assert (c.stage, c.outcome) == (Stage.CLOSED, "no_response")


def test_search_attributes_are_published_when_they_change() -> None:
    first = search_attribute_updates(waiting(), None)
    names = {u.key.name for u in first}
    assert names == {
        "ClientId",
        "ComplaintStage",
        "ComplaintSeverity",
        "ComplaintChannel",
        "SlaDeadline",
        "SlaBreached",
        "ReopenCount",
    }  # no category nor department before the assessment
    after = search_attribute_updates(handled(), waiting())
    assert {u.key.name: u.value for u in after} == {
        sa.COMPLAINT_STAGE.name: "investigation",
        sa.COMPLAINT_SEVERITY.name: "low",
        sa.COMPLAINT_CATEGORY.name: "fees",
        sa.RESPONSIBLE_DEPARTMENT.name: "ops",
    }
    assert search_attribute_updates(handled(), handled()) == []


def test_notices_and_their_params_carry_no_personal_data() -> None:
    c = handled()
    assert [(n.recipient, n.template, s) for n, s in notices_for("assessed", c)] == [
        ("handler", "complaint_assigned", "h-1")
    ]
    # Before assessment there is no handler: a handler notice goes to the supervisor.
    up = apply_due(waiting(), Due(DueKind.ASSESSMENT_OVERDUE, T0), T0, "sup").complaint
    assert [(n.recipient, s) for n, s in notices_for("sla_breached", up)] == [("supervisor", "sup")]
    params = notice_params(c, "complaint_assigned")
    assert {k: mask_value(k, v) for k, v in params.items()} == params
    details = current_details(c, "assessed (#3)", Policy())
    assert "h-1" in details and "Sun Li" not in details and "1390013" not in details
    # the deadline as the firm's clocks show it, not the UTC instant
    local = c.sla_deadline.astimezone(Policy().zone())
    assert f"{local:%Y-%m-%d %H:%M} Asia/Shanghai" in details and "UTC" not in details
