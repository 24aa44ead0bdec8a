"""The client service as it ran before effects left the update handlers (replay only).

Runs started before `workflows.client_service.workflow.EFFECTS_QUEUED` hold every update behind
one lane (`_lane`) across its projection and notification activities; their histories must
replay with the same commands, so this is that code, unchanged but for living here. New runs
never use it: once no run older than that patch is open (runs continue as new within
`service.continue_as_new_after`, a year), delete this module.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import domain.client_service as st
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
    from activities.tier_review import TierChangeSignal
    from domain.calendar import ServiceEvent
    from domain.client_service import (
        SUPERVISION,
        OpenTask,
        Plan,
        ServiceState,
        TaskKind,
        due_now,
        live_done_keys,
        plan,
    )
    from domain.consent import Purpose
    from domain.enums import ServiceStatus
    from domain.policy import Policy
    from domain.tiering import tier_for
    from workflows import projecting
    from workflows import search_attributes as sa
    from workflows.client_service.models import (
        CallbackOutcome,
        CallbackRecorded,
        ClientServiceInput,
        ClientView,
        ErasePersonalData,
        OnboardClient,
        OnboardResult,
        ProfileUpdate,
        view_of,
        workflow_id_for,
    )
    from workflows.client_service.service import ONBOARDING_WAIT

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
            written = await projecting.project(
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
            if written:  # else the next publish sends the client row again
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


# -- duties (was client_service_duties) --


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
                    TaskStatus.SUPPRESSED if result.status == "suppressed" else TaskStatus.DONE,
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


# A tier change re-plans callbacks from the last callback done (was: the onboarding grid).
REPLAN_FROM_LAST_CALLBACK = "tier-change-replans-from-last-callback"


class LegacyService:
    def __init__(self, inp: ClientServiceInput) -> None:
        self._policy = inp.policy
        self._client_id = inp.client_id
        self.s: st.ServiceState | None = inp.state
        self._replan = False
        self._lane = asyncio.Lock()
        self._fx = Effects(inp.policy, inp.client_id)

    async def run(self, inp: ClientServiceInput) -> ClientView | None:
        if self.s is None:
            try:
                await workflow.wait_condition(
                    lambda: self.s is not None,
                    timeout=ONBOARDING_WAIT,
                    timeout_summary="waiting for onboarding",
                )
            except TimeoutError:
                workflow.logger.warning("never onboarded; ending", extra=self._log())
                return None
        run_ends = self._policy.service.continue_as_new_after.after(workflow.now())
        while self._state.status is not ServiceStatus.CLOSED:
            self._replan = False
            async with self._lane:
                s = self._state
                await self._fx.publish(s, await serve_due(self._fx, s, self._policy))
            wake_at = self._state.planned_wake
            if workflow.now() >= run_ends or workflow.info().is_continue_as_new_suggested():
                break
            if wake_at is not None and wake_at <= workflow.now():
                continue
            try:
                await workflow.wait_condition(
                    lambda: self._replan,
                    timeout=None if wake_at is None else wake_at - workflow.now(),
                    timeout_summary=self._fx.wake_summary,
                )
            except TimeoutError:
                pass
        s = self._state
        if s.status is not ServiceStatus.CLOSED:
            s.done_keys = await self._fx.carried_keys(s)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if s.status is ServiceStatus.CLOSED:
            return view_of(s, self._fx.current_plan())
        workflow.continue_as_new(ClientServiceInput(**{**dict(inp), "state": s}))

    async def onboard(self, cmd: OnboardClient) -> OnboardResult:
        async with self._lane:
            now, file = workflow.now(), cmd.file
            rows: list[TaskRecord] = []
            if self.s is None:
                self.s = st.ServiceState(
                    file=file,
                    tier=tier_for(file.metrics, self._policy.tiers),
                    onboarded_at=now,
                    risk_assessed_at=now if file.risk_answers is not None else None,
                    seq=st.first_seq(now),
                )
            else:
                s = self.s
                # A re-submission without answers does not erase an assessment on file; the
                # tier stays the review's business (see README: tiers change at reviews).
                answers = file.risk_answers or s.file.risk_answers
                s.file = file.revised(risk_answers=answers)
                if file.risk_answers is not None:
                    rows += assessed(self._fx, s, now)
            await self._fx.publish(self._state, rows, force=True)
            self._replan = True
        s = self._state
        risk = s.risk()
        return OnboardResult(
            workflow_id=self._fx.workflow_id,
            client_id=s.client_id,
            tier=s.tier,
            risk_profile=s.risk_profile(),
            risk_level=risk.level if risk else None,
        )

    async def update_profile(self, cmd: ProfileUpdate) -> ClientView:
        async with self._lane:
            s, now = self._state, workflow.now()
            basic = cmd.basic.model_dump(exclude_unset=True) if cmd.basic else None
            advisor = s.file.advisor_id
            s.file = st.revise_file(s.file, basic, cmd.changes())
            rows = assessed(self._fx, s, now) if cmd.risk_answers is not None else []
            if s.file.advisor_id != advisor:  # open duties move to the new advisor's worklist
                rows += [self._fx.open_row(s, t) for t in s.open_tasks]
            await self._fx.publish(s, rows)
            self._replan = True
        return self.view()

    async def record_callback(self, cmd: CallbackOutcome) -> CallbackRecorded:
        async with self._lane:
            s, now = self._state, workflow.now()
            task = s.open_task(cmd.task_id, cmd.kind)
            if task is None:  # done by a concurrent update after validation
                raise ApplicationError(f"callback: no open {cmd.kind.value}", type="NoOpenTask")
            late = now > st.escalation_at(task, self._policy)
            row = record_outcome(self._fx, s, task, cmd, late)
            await self._fx.publish(s, [row])
            self._replan = True
        return CallbackRecorded(
            task_id=task.task_id, kind=task.kind, due_at=task.due_at, completed_at=now, late=late
        )

    async def erase(self, cmd: ErasePersonalData) -> ClientView:
        """PIPL deletion: personal data leaves the state, the read models, and the service ends;
        the next run of this id (a new onboarding) starts from a clean file."""
        async with self._lane:
            s, now = self._state, workflow.now()
            rows = cancel_open(self._fx, s, now)
            st.erase(s, now)
            await self._fx.publish(s, rows, force=True)
            await self._fx.erase_elsewhere(cmd.requested_by, cmd.reason)
            workflow.logger.info("personal data erased", extra=self._log())
            self._replan = True
        return self.view()

    async def change_tier(self, sig: TierChangeSignal) -> None:
        """From the tier review. Idempotent: the review signals again when its batch retries."""
        s = self.s
        if not isinstance(sig, TierChangeSignal):  # malformed: dropped, never a failed task
            workflow.logger.warning("malformed tier change ignored", extra=self._log())
            return
        if s is None or s.status is ServiceStatus.CLOSED or sig.review_id == s.last_review_id:
            return
        async with self._lane:
            s.last_review_id = sig.review_id
            if sig.new_tier is s.tier:
                return
            if workflow.patched(REPLAN_FROM_LAST_CALLBACK):
                st.change_tier(s, sig.new_tier)
            else:  # histories recorded before the patch re-tiered on the onboarding grid
                s.tier = sig.new_tier
            workflow.logger.info(
                "tier changed", extra={**self._log(), "tier": s.tier.value, "via": sig.review_id}
            )
            await self._fx.publish(s, [])
            self._replan = True

    def unsettled(self) -> int:
        return 0  # every command here answered after its effects

    def view(self) -> ClientView:
        return view_of(self._state, self._fx.current_plan())

    @property
    def _state(self) -> st.ServiceState:
        if self.s is None:
            raise ApplicationError("the client is not onboarded yet", type="NotOnboarded")
        return self.s

    async def set_status(self, status: ServiceStatus, reason: str | None = None) -> ClientView:
        async with self._lane:
            s, now = self._state, workflow.now()
            s.status = status
            s.status_reason = None if status is ServiceStatus.ACTIVE else reason  # state only
            rows = cancel_open(self._fx, s, now) if status is ServiceStatus.CLOSED else []
            workflow.logger.info("service status", extra={**self._log(), "status": status.value})
            await self._fx.publish(s, rows)
            self._replan = True
        return self.view()

    def _log(self) -> dict[str, str]:
        return {"client_id": self._client_id}
