"""What ClientServiceWorkflow does with its duties: serve what is due, close what is done.

Each function changes the state and returns the `service_tasks` rows that record the change;
the caller publishes them (with the client row) in one projection write.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import workflows.client_service_state as st
    from activities.clients import TaskRecord, TaskStatus
    from domain.consent import Purpose
    from domain.policy import Policy
    from workflows.client_service_effects import Effects
    from workflows.client_service_models import CallbackOutcome


async def serve_due(fx: Effects, s: st.ServiceState, policy: Policy) -> list[TaskRecord]:
    """Everything due now: greetings sent, advisor duties issued, overdue callbacks escalated."""
    now = workflow.now()
    rows: list[TaskRecord] = []
    for event in await fx.due_events(s):
        if event.kind in st.GREETINGS:
            result = await fx.notify(
                s,
                Purpose.CARE,
                event.kind.value,
                recipient_kind="client",
                params={"occasion": event.key},
            )
            st.issue(s, fx.workflow_id, event)
            rows.append(
                fx.task_row(
                    s,
                    st.task_id_for(fx.workflow_id, event),
                    event.kind,
                    event.due_at,
                    TaskStatus.DONE if result.status == "sent" else TaskStatus.SUPPRESSED,
                    completed_at=now,
                    outcome={"channel": result.channel, "reason": result.reason},
                )
            )
        elif (task := st.issue(s, fx.workflow_id, event)) is not None:
            rows.append(fx.open_row(s, task))
    for task in st.to_escalate(s, now, policy):
        await fx.notify(
            s,
            Purpose.SERVICE,
            "callback_overdue",
            recipient_kind="supervisor",
            recipient_id=st.SUPERVISION,
            params={"task_id": task.task_id, "advisor_id": s.file.advisor_id},
        )
        task.escalated = True
        rows.append(fx.open_row(s, task))
    return rows


def record_outcome(
    fx: Effects, s: st.ServiceState, task: st.OpenTask, cmd: CallbackOutcome, late: bool
) -> TaskRecord:
    """Closes a callback or plan review with what the advisor learned. Satisfaction and flags
    go in the row's `outcome`; the client's own words only in its encrypted `outcome_text`."""
    st.complete(s, task, workflow.now())
    text = {k: v for k in ("returns", "life_situation", "new_needs") if (v := getattr(cmd, k))}
    return fx.task_row(
        s,
        task.task_id,
        task.kind,
        task.due_at,
        TaskStatus.DONE,
        completed_at=workflow.now(),
        outcome={
            "satisfaction": cmd.satisfaction,
            "late": late,
            "new_needs": cmd.new_needs is not None,
            "recorded_by": cmd.advisor_id or s.file.advisor_id,
        }
        # Only when asked: rows recorded before the question existed stay as they were.
        | ({"recommend": cmd.recommend} if cmd.recommend is not None else {}),
        outcome_text=text or None,
        escalated=task.escalated,
    )


def assessed(fx: Effects, s: st.ServiceState, now: datetime) -> list[TaskRecord]:
    """New answers are a risk assessment: its validity runs from now, its task is done."""
    s.risk_assessed_at = now
    task = s.open_task(None, st.TaskKind.RISK_ASSESSMENT)
    if task is None:
        return []
    st.complete(s, task, workflow.now())
    return [fx.task_row(s, task.task_id, task.kind, task.due_at, TaskStatus.DONE, completed_at=now)]


def cancel_open(fx: Effects, s: st.ServiceState, now: datetime) -> list[TaskRecord]:
    """The client leaves: whatever was still open will not be done."""
    rows = [
        fx.task_row(
            s,
            t.task_id,
            t.kind,
            t.due_at,
            TaskStatus.CANCELLED,
            completed_at=now,
            escalated=t.escalated,
        )
        for t in s.open_tasks
    ]
    s.open_tasks = []
    return rows
