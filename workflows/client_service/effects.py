"""What a client's workflow tells the outside, and how: the rows, messages and search attributes
a change calls for, and the queue's effects that carry rows and messages out through activities.

Handlers and the run loop never call an activity for a projection, a notification or an
erasure: they append an `Effect` (its `seq` already assigned) to the workflow's queue, and one
drain loop performs the queue in order, one effect at a time. The order is what the old lane
guaranteed: a projection is never overtaken by a later one, and a greeting never goes out
before the consents it depends on are written. Only continue-as-new and the end of the service
wait for the queue to empty, so a PostgreSQL outage or a hung gateway delays the read models,
never the answer to a command; the workflow's state (its history) is the system of record, and
read models follow it.

Projections and the erasure retry without limit (the read models must follow). A notification
is only committed to the outbox here (`notify` writes a row, it never calls a gateway: the
dispatcher in `activities.delivery` delivers it), and gives up after `NOTIFY_RETRY`, so even a
database fault on that row cannot hold up the projections queued behind it for longer; a
greeting whose row could not be committed is recorded as suppressed with the reason. What
became of the message (sent, retried, failed) is on its outbox row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.clients import (
        ClientActivities,
        ClientRecord,
        ClientServiceProjection,
        HolidayTableRequest,
        TaskRecord,
        TaskStatus,
    )
    from activities.notifications import (
        NotificationActivities,
        NotifyRequest,
        RecipientKind,
    )
    from activities.privacy import EraseRequest, PrivacyActivities
    from domain.calendar import HolidayTable
    from domain.client_service import (
        SUPERVISION,
        OpenTask,
        Plan,
        ServiceState,
        TaskKind,
        task_id_for,
        workflow_id_for,
    )
    from domain.consent import Purpose
    from domain.localtime import shown
    from domain.policy import HolidayPolicy, Policy
    from domain.service_events import ServiceEvent
    from workflows import projecting
    from workflows import search_attributes as sa
    from workflows.client_service.models import CallbackOutcome

ACTIVITY_TIMEOUT = timedelta(seconds=30)
# The advisor is told when a callback or plan review falls due (was: only the supervisor, once
# it was overdue). Runs started before this queue no reminder.
ADVISOR_REMINDERS = "client-service-advisor-reminders"
REMINDED = frozenset({TaskKind.CALLBACK, TaskKind.PLAN_REVIEW})
NOTIFY_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5)


# -- the queue's effects ----------------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    projection: ClientServiceProjection


@dataclass(frozen=True)
class Notify:
    request: NotifyRequest
    greeting: Project | None = None
    """A greeting's task row, written once the send is settled, with its outcome."""


@dataclass(frozen=True)
class EraseElsewhere:
    request: EraseRequest


Effect = Project | Notify | EraseElsewhere


async def perform(effect: Effect) -> None:
    if isinstance(effect, Project):
        await _project(effect.projection)
    elif isinstance(effect, Notify):
        status, channel, reason = await _notify(effect.request)
        if effect.greeting is not None:
            settled = (
                TaskStatus.SUPPRESSED if status in ("suppressed", "failed") else TaskStatus.DONE
            )
            outcome = {"channel": channel, "reason": reason}
            rows = [
                t.model_copy(update={"status": settled, "outcome": outcome})
                for t in effect.greeting.projection.tasks
            ]
            await _project(effect.greeting.projection.model_copy(update={"tasks": rows}))
    else:
        await workflow.execute_activity_method(
            PrivacyActivities.erase_client_personal_data,
            effect.request,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            summary="erase personal data from the read models (PIPL)",
        )


async def _project(p: ClientServiceProjection) -> None:
    await projecting.project(
        ClientActivities.project_client_service,
        p,
        start_to_close_timeout=ACTIVITY_TIMEOUT,
        summary=f"#{p.seq}: {len(p.tasks)} task rows" + (", client row" if p.client else ""),
    )


async def _notify(req: NotifyRequest) -> tuple[str, str | None, str | None]:
    try:
        result = await workflow.execute_activity_method(
            NotificationActivities.notify,
            req,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=NOTIFY_RETRY,
            summary=req.template,
        )
    except ActivityError:
        workflow.logger.warning(
            "client notification failed",
            extra={"template": req.template, "client_id": req.client_id},
        )
        return "failed", None, "delivery failed"
    return result.status, result.channel, result.reason


async def holiday_table(holidays: HolidayPolicy, years: tuple[int, int]) -> HolidayTable:
    """The greeted holidays' dates, from a local activity: recorded in the history, a package
    upgrade cannot change a replayed past. Local because it is pure computation on the worker
    (no I/O to retry for), so it runs inside the workflow task instead of a round trip through
    the task queue. A year more than asked for, so the table outlives the next continue-as-new.
    """
    first, last = years
    return await workflow.execute_local_activity_method(
        ClientActivities.load_holiday_table,
        HolidayTableRequest(holidays=holidays, first_year=first, last_year=last + 1),
        start_to_close_timeout=ACTIVITY_TIMEOUT,
        summary=f"holidays {first}-{last + 1}",
    )


# -- what a change calls for ------------------------------------------------------------------


def projection(
    s: ServiceState,
    seq: int,
    client: ClientRecord | None,
    rows: list[TaskRecord],
    policy_version: str | None = None,
) -> Project:
    return Project(
        ClientServiceProjection(
            workflow_id=workflow_id_for(s.client_id),
            client_id=s.client_id,
            seq=seq,
            at=workflow.now(),
            client=client,
            tasks=rows,
            policy_version=policy_version,
        )
    )


def notification(
    s: ServiceState,
    seq: int,
    purpose: Purpose,
    template: str,
    *,
    recipient_kind: RecipientKind,
    recipient_id: str | None = None,
    params: dict[str, Any],
) -> NotifyRequest:
    wid = workflow_id_for(s.client_id)
    return NotifyRequest(
        notification_id=f"{wid}:{seq}:{purpose.value}",
        workflow_id=wid,
        client_id=s.client_id,
        recipient_kind=recipient_kind,
        recipient_id=recipient_id,
        purpose=purpose,
        template=template,
        params=params,
    )


def greeting(
    s: ServiceState, event: ServiceEvent, seq: int, row_seq: int, policy_version: str | None = None
) -> Notify:
    """A greeting's message (`seq`), and its task row (`row_seq`) to settle once it is sent."""
    message = notification(
        s,
        seq,
        Purpose.CARE,
        event.kind.value,
        recipient_kind="client",
        params={"occasion": event.key},
    )
    row = task_row(
        s,
        task_id_for(workflow_id_for(s.client_id), event),
        event,
        TaskStatus.DONE,
        completed_at=workflow.now(),
    )
    return Notify(message, greeting=projection(s, row_seq, None, [row], policy_version))


def reminder(s: ServiceState, task: OpenTask, seq: int) -> Notify:
    """`callback_due` / `plan_review_due` to the client's advisor (the supervisor if none)."""
    advisor = s.file.advisor_id
    return Notify(
        notification(
            s,
            seq,
            Purpose.SERVICE,
            f"{task.kind.value}_due",
            recipient_kind="advisor" if advisor else "supervisor",
            recipient_id=advisor or SUPERVISION,
            params={
                "task_id": task.task_id,
                "due_at": task.due_at.isoformat(),
                "tier": s.tier.value,
            },
        )
    )


def escalation(s: ServiceState, task: OpenTask, seq: int) -> Notify:
    return Notify(
        notification(
            s,
            seq,
            Purpose.SERVICE,
            "callback_overdue",
            recipient_kind="supervisor",
            recipient_id=SUPERVISION,
            params={"task_id": task.task_id, "advisor_id": s.file.advisor_id},
        )
    )


def task_row(
    s: ServiceState,
    task_id: str,
    task: OpenTask | ServiceEvent,
    status: TaskStatus,
    *,
    completed_at: datetime | None = None,
    outcome: dict[str, Any] | None = None,
    outcome_text: dict[str, str] | None = None,
    escalated: bool = False,
) -> TaskRecord:
    return TaskRecord(
        task_id=task_id,
        kind=task.kind.value,
        due_at=task.due_at,
        status=status,
        advisor_id=s.file.advisor_id,
        tier=s.tier,
        escalated_to=SUPERVISION if escalated else None,
        completed_at=completed_at,
        outcome=outcome,
        outcome_text=outcome_text,
    )


def open_row(s: ServiceState, task: OpenTask) -> TaskRecord:
    status = TaskStatus.OVERDUE if task.escalated else TaskStatus.DUE
    return task_row(s, task.task_id, task, status, escalated=task.escalated)


def closed_row(s: ServiceState, task: OpenTask, status: TaskStatus) -> TaskRecord:
    """Done (a risk assessment) or cancelled (the client left)."""
    return task_row(
        s, task.task_id, task, status, completed_at=workflow.now(), escalated=task.escalated
    )


def outcome_row(s: ServiceState, task: OpenTask, cmd: CallbackOutcome, late: bool) -> TaskRecord:
    """A callback or plan review done, with what the advisor learned: satisfaction and flags in
    the row's `outcome`, the client's own words only in its encrypted `outcome_text`."""
    text = {k: v for k in ("returns", "life_situation", "new_needs") if (v := getattr(cmd, k))}
    return task_row(
        s,
        task.task_id,
        task,
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


def client_record(s: ServiceState, p: Plan, policy: Policy) -> ClientRecord:
    segment = s.file.current_segment(policy)
    file = s.file
    if s.restricted:
        # Stored as it was, and contact refused: the dispatcher suppresses what was queued.
        file = file.revised(consents=file.consents.model_copy(update={"do_not_contact": True}))
    return ClientRecord(
        file=file,
        tier=s.tier,
        risk=s.risk(),
        risk_assessed_at=s.risk_assessed_at,
        status=s.status,
        next_service_due=p.service_due,
        next_service_kind=p.service_kind,
        segment=segment.model_dump(mode="json") if segment else None,
        missing_fields=s.missing_fields(),
        onboarded_at=s.onboarded_at,
        erased_at=s.erased_at,
    )


def show(
    s: ServiceState, p: Plan, shown_before: tuple[object, ...] | None, policy: Policy
) -> tuple[object, ...]:
    """Search attributes, upserted only when they change (each upsert is a history event), and
    the UI's current details. Returns what is now shown."""
    wanted = (s.tier, s.status, p.service_due)
    if wanted != shown_before:
        due: SearchAttributeUpdate[Any] = (
            sa.NEXT_SERVICE_DUE.value_set(p.service_due)
            if p.service_due
            else sa.NEXT_SERVICE_DUE.value_unset()
        )
        workflow.upsert_search_attributes(
            [
                sa.CLIENT_ID.value_set(s.client_id),
                sa.CLIENT_TIER.value_set(s.tier.value),
                sa.SERVICE_STATUS.value_set(s.status.value),
                due,
            ]
        )
    if (r := s.restriction) is not None and s.restricted:
        until = r.until.date().isoformat() if r.until else f"{r.keep_for.iso()} after offboard"
        workflow.set_current_details(
            f"restricted: a deletion request kept by the {r.hold} hold until {until}, then "
            "shredded; nothing is processed, shown or sent"
        )
        return wanted
    overdue = sum(1 for t in s.open_tasks if t.escalated)
    nxt = (
        f"next {p.service_kind} due {shown(p.service_due, policy.zone(), policy.timezone)}"
        if p.service_due
        else "no service planned"
    )
    workflow.set_current_details(
        f"{s.status.value}, {s.tier.value}: {nxt}; "
        f"{len(s.open_tasks)} open task(s), {overdue} overdue"
    )
    return wanted
