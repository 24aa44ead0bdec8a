"""The complaint state machine: what each command does, and what it refuses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from domain import complaint_clock as clock
from domain import complaint_transitions as t
from domain import deadlines
from domain.complaint import (
    ALLOWED,
    Action,
    Assessment,
    ComplaintIntake,
    ComplaintRuleError,
    ExtensionRequest,
    FollowUpAnswer,
    InvestigationStep,
    Reassignment,
    RepeatSubmission,
    ResolutionPlan,
    Stage,
    Withdrawal,
    escalated,
)
from domain.complaint_state import Complaint, receive
from domain.enums import Severity
from domain.personal_data import is_personal_key
from domain.policy import ComplaintPolicy, Policy

POLICY = Policy()
T0 = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
PERSON = {"name": "Wang Fang", "phone": "13800138000"}


def intake(**overrides: Any) -> ComplaintIntake:
    body = {"client_id": "c-1", "channel": "email", "content": "fees", "complainant": PERSON}
    return ComplaintIntake.model_validate({**body, **overrides})


def acknowledged(**overrides: Any) -> Complaint:
    received = receive("k-1", intake(**overrides), T0, POLICY).complaint
    return t.acknowledge(received, T0, "sent").complaint


def assessed(**assess: Any) -> Complaint:
    cmd = {"category": "fees", "severity": "medium", "department": "ops", "handler": "h-1"}
    return t.assess(acknowledged(), Assessment(**{**cmd, **assess}), T0, POLICY).complaint


def resolved(at: datetime = T0) -> Complaint:
    c = t.investigate(assessed(), InvestigationStep(findings="x", done=True), at).complaint
    plan = ResolutionPlan(measures="refund", owner="h-1", due=at.date() + timedelta(days=7))
    return t.resolve(c, plan, at, POLICY).complaint


def test_the_whole_way_through() -> None:
    received = receive("k-1", intake(), T0, POLICY)
    assert (received.kind, received.complaint.stage) == ("received", Stage.INTAKE)
    assert received.complaint.sla_deadline == deadlines.decision_due(T0, POLICY)
    c = t.acknowledge(received.complaint, T0, "sent").complaint
    assert c.stage is Stage.ASSESSMENT
    c = assessed()
    assert (c.stage, c.handler, c.category) == (Stage.INVESTIGATION, "h-1", "fees")
    step = t.investigate(c, InvestigationStep(findings="a", evidence=["e1", "e2"]), T0)
    assert (step.kind, step.complaint.stage, step.complaint.evidence_count) == (
        "investigation_noted",
        Stage.INVESTIGATION,
        2,
    )
    assert step.detail == {"findings": "a", "evidence": ["e1", "e2"]}
    c = t.investigate(step.complaint, InvestigationStep(findings="b", done=True), T0).complaint
    assert c.stage is Stage.RESOLUTION
    plan = ResolutionPlan(measures="refund", owner="h-1", due=date(2027, 3, 8))
    c = t.resolve(c, plan, T0, POLICY).complaint
    assert (c.stage, c.survey_sent_at, c.plan_due) == (Stage.FOLLOW_UP, T0, date(2027, 3, 8))
    closed = t.follow_up(c, FollowUpAnswer(satisfaction=4), T0, POLICY)
    assert (closed.kind, closed.complaint.stage, closed.complaint.outcome) == (
        "closed",
        Stage.CLOSED,
        "resolved",
    )


def test_dissatisfaction_reopens_with_a_fresh_decision_period() -> None:
    later = T0 + timedelta(days=20)
    c = resolved(at=later)
    change = t.follow_up(c, FollowUpAnswer(satisfaction=3, comment="no"), later, POLICY)
    r = change.complaint
    assert (change.kind, r.stage, r.reopen_count, r.satisfaction) == (
        "reopened",
        Stage.INVESTIGATION,
        1,
        3,
    )
    assert r.decision_from == later
    assert r.sla_deadline == deadlines.decision_due(later, POLICY)
    assert (r.survey_sent_at, r.resolved_at) == (None, None)
    assert change.detail == {"comment": "no"}


def test_satisfaction_threshold_comes_from_the_policy() -> None:
    strict = Policy(complaints=ComplaintPolicy(satisfied_at=5))
    assert t.follow_up(resolved(), FollowUpAnswer(satisfaction=4), T0, strict).kind == "reopened"
    assert t.follow_up(resolved(), FollowUpAnswer(satisfaction=5), T0, strict).kind == "closed"


COMMANDS: dict[Action, Any] = {
    Action.ASSESS: lambda c: t.assess(
        c, Assessment(category="fees", severity="low", department="d", handler="h-9"), T0, POLICY
    ),
    Action.INVESTIGATE: lambda c: t.investigate(c, InvestigationStep(findings="f"), T0),
    Action.RESOLVE: lambda c: t.resolve(
        c, ResolutionPlan(measures="m", owner="o", due=date(2027, 3, 5)), T0, POLICY
    ),
    Action.FOLLOW_UP: lambda c: t.follow_up(c, FollowUpAnswer(satisfaction=5), T0, POLICY),
    Action.EXTEND: lambda c: t.extend(
        c, ExtensionRequest(reason="r", approved_by="boss"), T0, POLICY
    ),
    Action.REASSIGN: lambda c: t.reassign(c, Reassignment(handler="h-9"), T0),
    Action.WITHDRAW: lambda c: t.withdraw(c, Withdrawal(reason="r"), T0),
    Action.MERGE_REPEAT: lambda c: t.merge_repeat(
        c, RepeatSubmission(client_id="c-1", channel="email", content="x", complainant=PERSON), T0
    ),
}


@pytest.mark.parametrize("stage", list(Stage))
@pytest.mark.parametrize("action", list(COMMANDS))
def test_each_command_only_in_its_stages(action: Action, stage: Stage) -> None:
    c = assessed().model_copy(update={"stage": stage})
    if stage in ALLOWED[action]:
        assert COMMANDS[action](c).complaint is not c
        return
    with pytest.raises(ComplaintRuleError) as err:
        COMMANDS[action](c)
    message = str(err.value)
    assert f"cannot {action}: complaint k-1 is in stage '{stage}'" in message
    assert "is allowed only in" in message and "Allowed now:" in message


def test_withdrawal_from_any_open_stage_ends_it() -> None:
    for stage in (Stage.INTAKE, Stage.ASSESSMENT, Stage.RESOLUTION, Stage.FOLLOW_UP):
        c = assessed().model_copy(update={"stage": stage})
        w = t.withdraw(c, Withdrawal(reason="settled"), T0).complaint
        assert (w.stage, w.outcome, w.closed_at) == (Stage.WITHDRAWN, "withdrawn", T0)


def test_extension_rules() -> None:
    c = assessed(complex=True)
    assert c.sla_deadline == deadlines.decision_due(T0, POLICY, complex_case=True)
    request = ExtensionRequest(reason="issuer records", approved_by="head")
    once = t.extend(c, request, T0, POLICY).complaint
    assert (once.extensions, once.sla_deadline) == (1, c.sla_deadline + timedelta(days=30))
    with pytest.raises(
        ComplaintRuleError, match=r"already extended 1 time\(s\); the policy allows 1"
    ):
        t.extend(once, request, T0, POLICY)
    with pytest.raises(ComplaintRuleError, match="has passed"):
        t.extend(c, request, c.sla_deadline, POLICY)
    with pytest.raises(ComplaintRuleError, match="cannot approve their own extension"):
        t.extend(c, ExtensionRequest(reason="r", approved_by="h-1"), T0, POLICY)
    none = Policy(complaints=ComplaintPolicy(max_extensions=0))
    with pytest.raises(ComplaintRuleError, match="the policy allows 0"):
        t.extend(c, request, T0, none)


def test_the_subject_of_the_complaint_never_handles_supervises_or_approves_it() -> None:
    c = acknowledged(subject="adv-3")
    base = {"category": "suitability", "severity": "high", "department": "compliance"}
    with pytest.raises(ComplaintRuleError, match="handler 'adv-3' is the staff member"):
        t.assess(c, Assessment(**base, handler="adv-3"), T0, POLICY)
    with pytest.raises(ComplaintRuleError, match="supervisor 'adv-3' is the staff member"):
        t.assess(c, Assessment(**base, handler="h-2", supervisor="adv-3"), T0, POLICY)
    # The assessment can name the subject too.
    with pytest.raises(ComplaintRuleError, match="handler 'adv-4'"):
        t.assess(acknowledged(), Assessment(**base, handler="adv-4", subject="adv-4"), T0, POLICY)
    a = t.assess(c, Assessment(**base, handler="h-2"), T0, POLICY).complaint
    with pytest.raises(ComplaintRuleError, match="handler 'adv-3'"):
        t.reassign(a, Reassignment(handler="adv-3"), T0)
    with pytest.raises(ComplaintRuleError, match="approver 'adv-3'"):
        t.extend(a, ExtensionRequest(reason="r", approved_by="adv-3"), T0, POLICY)
    with pytest.raises(ComplaintRuleError, match="nothing to change"):
        t.reassign(a, Reassignment(handler="h-2"), T0)
    moved = t.reassign(a, Reassignment(department="ops", reason="workload"), T0)
    assert (moved.complaint.department, moved.complaint.handler) == ("ops", "h-2")
    assert moved.data["previous_handler"] == "h-2"


def test_a_plan_due_before_the_firms_today_is_refused() -> None:
    evening = datetime(2027, 3, 1, 17, 0, tzinfo=UTC)  # already 2 March in Shanghai
    c = t.investigate(assessed(), InvestigationStep(findings="x", done=True), evening).complaint
    plan = ResolutionPlan(measures="m", owner="o", due=date(2027, 3, 1))
    with pytest.raises(ComplaintRuleError, match=r"2027-03-01 is before today \(2027-03-02\)"):
        t.resolve(c, plan, evening, POLICY)


def test_repeat_submissions_merge_into_the_same_clients_complaint() -> None:
    c = assessed()
    sub = RepeatSubmission(client_id="c-1", channel="hotline", content="again", complainant=PERSON)
    merged = t.merge_repeat(c, sub, T0)
    assert merged.complaint.merged_count == 1 and merged.data == {
        "channel": "hotline",
        "merged_count": 1,
    }
    assert merged.detail is not None and merged.detail["content"] == "again"
    with pytest.raises(ComplaintRuleError, match="another client"):
        t.merge_repeat(c, sub.model_copy(update={"client_id": "c-2"}), T0)


def test_matter_keys() -> None:
    assert intake(matter=" FUND-X ").matter_key() == "c-1:fund-x"
    assert intake(category="fees").matter_key() == "c-1:fees"
    assert intake(matter="order-1", category="fees").matter_key() == "c-1:order-1"
    assert intake().matter_key() is None
    with pytest.raises(ValidationError):
        intake(matter="two words")


def test_escalation_goes_one_level_up_and_stops_at_critical() -> None:
    assert [escalated(s) for s in Severity] == ["medium", "high", "critical", "critical"]


def test_clock_transitions() -> None:
    waiting = acknowledged()
    up = clock.escalate_assessment(waiting, T0, "sup-team").complaint
    assert (up.severity, up.supervisor, up.escalated) == ("high", "sup-team", True)
    with pytest.raises(ComplaintRuleError, match="already escalated"):
        clock.escalate_assessment(up, T0, "sup-team")
    c = assessed(supervisor="sup-7")
    warned = clock.warn(c, T0).complaint
    assert warned.warned_for == c.sla_deadline
    breached = clock.breach(warned, c.sla_deadline, "sup-team").complaint
    assert (breached.sla_breached, breached.breached_for, breached.severity) == (
        True,
        c.sla_deadline,
        "high",
    )
    assert breached.supervisor == "sup-7"  # a named supervisor keeps charge
    r = clock.remind_survey(resolved(), T0).complaint
    assert r.survey_reminders_sent == 1
    expired = clock.expire_survey(r, T0).complaint
    assert (expired.stage, expired.outcome) == (Stage.CLOSED, "no_response")


def test_complainant_needs_a_way_to_be_answered() -> None:
    with pytest.raises(ValidationError, match="phone or an email"):
        intake(complainant={"name": "Zhao"})


def test_the_state_and_event_data_hold_no_personal_data() -> None:
    assert [f for f in Complaint.model_fields if is_personal_key(f)] == []
    c = resolved()
    changes = [
        t.follow_up(c, FollowUpAnswer(satisfaction=2, comment="bad"), T0, POLICY),
        t.merge_repeat(
            c,
            RepeatSubmission(client_id="c-1", channel="email", content="x", complainant=PERSON),
            T0,
        ),
        t.withdraw(c, Withdrawal(reason="why"), T0),
    ]
    for change in changes:
        assert [k for k in change.data if is_personal_key(k)] == []


def test_a_decision_may_grant_compensation_and_one_without_reads_as_before() -> None:
    c = t.investigate(assessed(), InvestigationStep(findings="x", done=True), T0).complaint
    body = {"measures": "refund", "owner": "h-1", "due": "2027-03-08"}
    granted = t.resolve(
        c, ResolutionPlan.model_validate({**body, "compensation": "1200.5"}), T0, POLICY
    )
    assert granted.data["compensation"] == "1200.50"
    assert granted.complaint.compensation == Decimal("1200.50")
    plain = t.resolve(c, ResolutionPlan.model_validate(body), T0, POLICY)
    assert plain.data == {"owner": "h-1", "due": "2027-03-08"}  # as recorded before it existed
    assert plain.complaint.compensation is None
    for bad in ("-1", "0.001", "1e20"):
        with pytest.raises(ValidationError):
            ResolutionPlan.model_validate({**body, "compensation": bad})
