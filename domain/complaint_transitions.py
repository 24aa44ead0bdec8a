"""What each command does to a complaint (intake → assessment → investigation → resolution →
follow-up → closed, or withdrawn), as pure functions returning a `Change`.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import JsonValue

from domain import deadlines
from domain.complaint import (
    Action,
    Assessment,
    ExtensionRequest,
    FollowUpAnswer,
    InvestigationStep,
    Outcome,
    Reassignment,
    RepeatSubmission,
    ResolutionPlan,
    Scalar,
    Stage,
    Withdrawal,
)
from domain.complaint_state import Change, Complaint
from domain.policy import Policy


def acknowledge(c: Complaint, now: datetime, delivery: str) -> Change:
    """The client was told (or could not be): the complaint now waits for its assessment."""
    c.guard(Action.ACKNOWLEDGE)
    late = now > c.acknowledgement_due
    return c.change(
        "acknowledged",
        data={"delivery": delivery, "late": late},
        stage=Stage.ASSESSMENT,
        acknowledged_at=now,
    )


def assess(c: Complaint, cmd: Assessment, now: datetime, policy: Policy) -> Change:
    c.guard(Action.ASSESS)
    subject = cmd.subject or c.subject
    c.not_subject(Action.ASSESS, "handler", cmd.handler, subject)
    c.not_subject(Action.ASSESS, "supervisor", cmd.supervisor, subject)
    deadline = deadlines.decision_due(c.decision_from, policy, complex_case=cmd.complex)
    return c.change(
        "assessed",
        actor=cmd.by,
        data={
            "category": cmd.category.value,
            "severity": cmd.severity.value,
            "department": cmd.department,
            "handler": cmd.handler,
            "complex": cmd.complex,
            "sla_deadline": deadline.isoformat(),
        },
        stage=Stage.INVESTIGATION,
        category=cmd.category,
        severity=cmd.severity,
        department=cmd.department,
        handler=cmd.handler,
        supervisor=cmd.supervisor or c.supervisor,
        subject=subject,
        complex=cmd.complex,
        sla_deadline=deadline,
        assessed_at=now,
    )


def investigate(c: Complaint, step: InvestigationStep, now: datetime) -> Change:
    c.guard(Action.INVESTIGATE)
    root_cause = step.root_cause or c.root_cause
    return c.change(
        "investigation_done" if step.done else "investigation_noted",
        actor=step.by,
        data={"evidence": len(step.evidence), "root_cause": root_cause, "done": step.done},
        detail={"findings": step.findings, "evidence": list(step.evidence)},
        stage=Stage.RESOLUTION if step.done else Stage.INVESTIGATION,
        evidence_count=c.evidence_count + len(step.evidence),
        root_cause=root_cause,
    )


def resolve(c: Complaint, plan: ResolutionPlan, now: datetime, policy: Policy) -> Change:
    """The plan is the decision: it stops the decision clock and asks the client's satisfaction."""
    c.guard(Action.RESOLVE)
    today = now.astimezone(policy.zone()).date()
    if plan.due < today:
        raise c.refuse(
            Action.RESOLVE, f"— the plan's due date {plan.due} is before today ({today})"
        )
    data: dict[str, Scalar] = {"owner": plan.owner, "due": plan.due.isoformat()}
    if plan.compensation is not None:  # absent, the event reads as it did before it existed
        data["compensation"] = f"{plan.compensation:.2f}"
    return c.change(
        "resolved",
        actor=plan.by or plan.owner,
        data=data,
        detail={"measures": plan.measures},
        stage=Stage.FOLLOW_UP,
        plan_owner=plan.owner,
        plan_due=plan.due,
        compensation=plan.compensation,
        resolved_at=now,
        survey_sent_at=now,
        survey_reminders_sent=0,
    )


def follow_up(c: Complaint, answer: FollowUpAnswer, now: datetime, policy: Policy) -> Change:
    """Satisfied closes the complaint; dissatisfied reopens it with a fresh decision period."""
    c.guard(Action.FOLLOW_UP)
    detail: dict[str, JsonValue] | None = {"comment": answer.comment} if answer.comment else None
    data: dict[str, Scalar] = {"satisfaction": answer.satisfaction}
    if answer.satisfaction >= policy.complaints.satisfied_at:
        return c.change(
            "closed",
            actor=answer.by,
            data={**data, "outcome": Outcome.RESOLVED.value},
            detail=detail,
            stage=Stage.CLOSED,
            satisfaction=answer.satisfaction,
            outcome=Outcome.RESOLVED,
            closed_at=now,
        )
    deadline = deadlines.decision_due(now, policy, complex_case=c.complex)
    return c.change(
        "reopened",
        actor=answer.by,
        data={**data, "reopen_count": c.reopen_count + 1, "sla_deadline": deadline.isoformat()},
        detail=detail,
        stage=Stage.INVESTIGATION,
        satisfaction=answer.satisfaction,
        reopen_count=c.reopen_count + 1,
        decision_from=now,
        sla_deadline=deadline,
        resolved_at=None,
        survey_sent_at=None,
        survey_reminders_sent=0,
    )


def extend(c: Complaint, req: ExtensionRequest, now: datetime, policy: Policy) -> Change:
    c.guard(Action.EXTEND)
    allowed = policy.complaints.max_extensions
    if c.extensions >= allowed:
        raise c.refuse(
            Action.EXTEND,
            f"was already extended {c.extensions} time(s); the policy allows {allowed}",
        )
    if now >= c.sla_deadline:
        raise c.refuse(
            Action.EXTEND,
            f"— its decision deadline {c.sla_deadline.isoformat()} has passed; an extension "
            "must be approved before the deadline",
        )
    if req.approved_by == c.handler:
        raise c.refuse(Action.EXTEND, "— the handler cannot approve their own extension")
    approvers = policy.complaints.extension_approvers
    if approvers is not None and req.approved_by not in approvers:
        raise c.refuse(
            Action.EXTEND,
            f"— approver '{req.approved_by}' does not hold the extension-approval role (policy "
            "complaints.extension_approvers: senior to the handler)",
        )
    c.not_subject(Action.EXTEND, "approver", req.approved_by, c.subject)
    deadline = deadlines.extended(c.sla_deadline, policy)
    return c.change(
        "extended",
        actor=req.approved_by,
        data={"from": c.sla_deadline.isoformat(), "to": deadline.isoformat()},
        detail={"reason": req.reason},
        extensions=c.extensions + 1,
        sla_deadline=deadline,
        extension_approved_by=req.approved_by,
    )


def reassign(c: Complaint, cmd: Reassignment, now: datetime) -> Change:
    c.guard(Action.REASSIGN)
    target = {
        "department": cmd.department or c.department,
        "handler": cmd.handler or c.handler,
        "supervisor": cmd.supervisor or c.supervisor,
    }
    c.not_subject(Action.REASSIGN, "handler", target["handler"], c.subject)
    c.not_subject(Action.REASSIGN, "supervisor", target["supervisor"], c.subject)
    if all(target[k] == getattr(c, k) for k in target):
        raise c.refuse(Action.REASSIGN, "is already assigned that way; nothing to change")
    return c.change(
        "reassigned",
        actor=cmd.by,
        data={**target, "previous_handler": c.handler},
        detail={"reason": cmd.reason} if cmd.reason else None,
        **target,
    )


def withdraw(c: Complaint, cmd: Withdrawal, now: datetime) -> Change:
    """The client withdrew: the procedure ends, whatever stage it was in."""
    c.guard(Action.WITHDRAW)
    return c.change(
        "withdrawn",
        actor=cmd.by,
        data={"outcome": Outcome.WITHDRAWN.value},
        detail={"reason": cmd.reason},
        stage=Stage.WITHDRAWN,
        outcome=Outcome.WITHDRAWN,
        closed_at=now,
    )


def merge_repeat(c: Complaint, sub: RepeatSubmission, now: datetime) -> Change:
    """A repeat submission on the same matter joins the open complaint instead of a new one."""
    c.guard(Action.MERGE_REPEAT)
    if sub.client_id != c.client_id:
        raise c.refuse(Action.MERGE_REPEAT, "belongs to another client")
    received = sub.received_at or now
    return c.change(
        "merged",
        data={"channel": sub.channel.value, "merged_count": c.merged_count + 1},
        detail={
            "content": sub.content,
            "complainant": sub.complainant.model_dump(mode="json"),
            "received_at": received.isoformat(),
        },
        merged_count=c.merged_count + 1,
    )
