"""The side of ClientServiceWorkflow that leaves the workflow: activities, search attributes,
current details. Deterministic like the workflow itself; it runs inside it.

`publish` is the one way state reaches the outside: it writes the `clients` row (only when it
changed) and any `service_tasks` rows under the next `seq`, then brings the search attributes
and the current details in line with the new plan.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

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
        NotifyResult,
        RecipientKind,
    )
    from activities.privacy import EraseRequest, PrivacyActivities
    from domain.calendar import ServiceEvent
    from domain.consent import Purpose
    from domain.policy import Policy
    from workflows import search_attributes as sa
    from workflows.client_service_models import ClientView, TaskView, workflow_id_for
    from workflows.client_service_state import (
        SUPERVISION,
        OpenTask,
        Plan,
        ServiceState,
        TaskKind,
        due_now,
        live_done_keys,
        plan,
    )

ACTIVITY_TIMEOUT = timedelta(seconds=30)

# The holiday table is read by a local activity (was: a scheduled activity).
HOLIDAYS_LOCAL = "holiday-table-by-local-activity"


class Effects:
    def __init__(self, policy: Policy, client_id: str) -> None:
        self.policy = policy
        self.client_id = client_id
        self.workflow_id = workflow_id_for(client_id)
        self.plan: Plan | None = None
        self._written: ClientRecord | None = None
        self._attributes: tuple[object, ...] | None = None

    @property
    def wake_summary(self) -> str:
        return f"until {self.plan.wake_for}" if self.plan and self.plan.wake_for else "idle"

    async def holidays_for(self, s: ServiceState) -> None:
        """Loads the greeted holidays' dates when the calendar is about to need years the
        state's table does not cover (about once a year, and at the first greeting consent)."""
        years = s.needs_holidays(workflow.now(), self.policy)
        if years is None:
            return
        first, last = years
        # A year more than needed: the table then outlives the next continue-as-new.
        request = HolidayTableRequest(
            holidays=self.policy.holidays, first_year=first, last_year=last + 1
        )
        if workflow.patched(HOLIDAYS_LOCAL):
            # Pure and quick, so a local activity: its result is recorded all the same (as a
            # marker), without the server round trips of a scheduled activity that every
            # onboarding would otherwise wait for.
            s.holidays = await workflow.execute_local_activity_method(
                ClientActivities.load_holiday_table,
                request,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                summary=f"holidays {first}-{last + 1}",
            )
            return
        s.holidays = await workflow.execute_activity_method(
            ClientActivities.load_holiday_table,
            request,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            summary=f"holidays {first}-{last + 1}",
        )

    async def due_events(self, s: ServiceState) -> list[ServiceEvent]:
        await self.holidays_for(s)
        return due_now(s, workflow.now(), self.policy)

    async def carried_keys(self, s: ServiceState) -> list[str]:
        await self.holidays_for(s)
        return live_done_keys(s, workflow.now(), self.policy)

    def current_plan(self) -> Plan:
        """The plan of the last publish: what the workflow is acting on (queries cannot run
        activities, so they never plan afresh)."""
        return self.plan or Plan(wake_at=None, wake_for=None, service_due=None, service_kind=None)

    async def notify(
        self,
        s: ServiceState,
        purpose: Purpose,
        template: str,
        *,
        recipient_kind: RecipientKind,
        recipient_id: str | None = None,
        params: dict[str, Any],
    ) -> NotifyResult:
        s.seq += 1
        return await workflow.execute_activity_method(
            NotificationActivities.notify,
            NotifyRequest(
                notification_id=f"{self.workflow_id}:{s.seq}:{purpose.value}",
                workflow_id=self.workflow_id,
                client_id=self.client_id,
                recipient_kind=recipient_kind,
                recipient_id=recipient_id,
                purpose=purpose,
                template=template,
                params=params,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            summary=template,
        )

    def task_row(
        self,
        s: ServiceState,
        task_id: str,
        kind: TaskKind,
        due_at: datetime,
        status: TaskStatus,
        *,
        completed_at: datetime | None = None,
        outcome: dict[str, Any] | None = None,
        outcome_text: dict[str, str] | None = None,
        escalated: bool = False,
    ) -> TaskRecord:
        return TaskRecord(
            task_id=task_id,
            kind=kind.value,
            due_at=due_at,
            status=status,
            advisor_id=s.file.advisor_id,
            tier=s.tier,
            escalated_to=SUPERVISION if escalated else None,
            completed_at=completed_at,
            outcome=outcome,
            outcome_text=outcome_text,
        )

    def open_row(self, s: ServiceState, task: OpenTask) -> TaskRecord:
        status = TaskStatus.OVERDUE if task.escalated else TaskStatus.DUE
        return self.task_row(
            s, task.task_id, task.kind, task.due_at, status, escalated=task.escalated
        )

    async def erase_elsewhere(self, requested_by: str, reason: str) -> None:
        """The client's personal data in other read models (complaints, task notes)."""
        await workflow.execute_activity_method(
            PrivacyActivities.erase_client_personal_data,
            EraseRequest(client_id=self.client_id, requested_by=requested_by, reason=reason),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            summary="erase personal data from the read models (PIPL)",
        )

    async def publish(
        self, s: ServiceState, rows: list[TaskRecord], *, force: bool = False
    ) -> None:
        await self.holidays_for(s)
        self.plan = plan(s, workflow.now(), self.policy)
        s.planned_wake = self.plan.wake_at
        record = self._record(s, self.plan)
        changed = force or record != self._written
        if changed or rows:
            s.seq += 1
            await workflow.execute_activity_method(
                ClientActivities.project_client_service,
                ClientServiceProjection(
                    workflow_id=self.workflow_id,
                    client_id=self.client_id,
                    seq=s.seq,
                    at=workflow.now(),
                    client=record if changed else None,
                    tasks=rows,
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                summary=f"{len(rows)} task rows" + (", client row" if changed else ""),
            )
            self._written = record
        self._show(s, self.plan)

    def _record(self, s: ServiceState, p: Plan) -> ClientRecord:
        segment = s.file.current_segment(self.policy)
        return ClientRecord(
            file=s.file,
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

    def _show(self, s: ServiceState, p: Plan) -> None:
        """Search attributes (upserted only on change: each upsert is a history event)."""
        wanted = (s.tier, s.status, p.service_due)
        if wanted != self._attributes:
            due: SearchAttributeUpdate[Any] = (
                sa.NEXT_SERVICE_DUE.value_set(p.service_due)
                if p.service_due
                else sa.NEXT_SERVICE_DUE.value_unset()
            )
            workflow.upsert_search_attributes(
                [
                    sa.CLIENT_ID.value_set(self.client_id),
                    sa.CLIENT_TIER.value_set(s.tier.value),
                    sa.SERVICE_STATUS.value_set(s.status.value),
                    due,
                ]
            )
            self._attributes = wanted
        overdue = sum(1 for t in s.open_tasks if t.escalated)
        nxt = (
            f"next {p.service_kind} due {p.service_due:%Y-%m-%d %H:%M} UTC"
            if p.service_due
            else "no service planned"
        )
        workflow.set_current_details(
            f"{s.status.value}, {s.tier.value}: {nxt}; "
            f"{len(s.open_tasks)} open task(s), {overdue} overdue"
        )


def view_of(s: ServiceState, p: Plan) -> ClientView:
    risk = s.risk()
    return ClientView(
        workflow_id=workflow_id_for(s.client_id),
        client_id=s.client_id,
        status=s.status,
        tier=s.tier,
        risk_profile=s.risk_profile(),
        risk_level=risk.level if risk else None,
        risk_assessed_at=s.risk_assessed_at,
        advisor_id=s.file.advisor_id,
        next_service_due=p.service_due,
        next_service_kind=p.service_kind,
        open_tasks=[
            TaskView(
                task_id=t.task_id,
                kind=t.kind,
                due_at=t.due_at,
                status=(TaskStatus.OVERDUE if t.escalated else TaskStatus.DUE).value,
            )
            for t in s.open_tasks
        ],
        missing_fields=s.missing_fields(),
        file=s.file,
        erased_at=s.erased_at,
    )
