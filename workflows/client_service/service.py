"""The client service's orchestration: serve what is due, plan, sleep; apply each command.

The run loop sleeps on one durable timer until `plan` (domain.client_service: when does this
client next wake, and why) says something is owed, serves it, and plans again; any change wakes
it at once to re-plan. It continues as new every `service.continue_as_new_after` (or when
Temporal suggests it) carrying the state, so a client served for decades has a short history.

Commands change the state synchronously and queue what the outside must be told
(`workflows.client_service.effects`); a separate drain loop performs the queue in order. So no
command ever waits behind an activity: a projection that hangs or a gateway that is down delays
the read models, not `pause`, `record_callback` or `erase`. A handler that does not await before
it changes the state also leaves no gap between its validator and itself in which another
command could move the state.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import domain.client_service as svc
    import workflows.client_service.effects as fx
    from activities.clients import ClientRecord, TaskRecord, TaskStatus
    from activities.privacy import EraseRequest
    from activities.tier_review import TierChangeSignal
    from domain.enums import ServiceStatus
    from domain.policy_versions import PolicyVersion
    from domain.tiering import tier_for
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
    )

CONTINUE_ON_TIME = "client-service-continue-on-time"
"""The run also wakes when it is due to continue as new: a paused client (nothing planned) used
to wait until its next command, which then met the continue-as-new in the same task."""

# A start whose onboarding update was refused has nothing to serve; it ends after this.
ONBOARDING_WAIT = timedelta(hours=1)

LEGAL_HOLD = "client-service-legal-hold"
"""A deletion request meets the policy's retention holds (`policy.privacy.holds`): under one,
the client is restricted at once and shredded when it ends, on a durable timer; outside any,
shredded at once as before. Runs that erased before this shred at once."""


class Service:
    def __init__(self, inp: ClientServiceInput) -> None:
        self._policy = inp.policy
        self._versions = inp.versions.model_copy()
        self._client_id = inp.client_id
        self.s: svc.ServiceState | None = inp.state
        if self.s is None and (ended := inp.ended) is not None:
            self.s = svc.held_only(
                inp.client_id, ended.kind, ended.tier, ended.advisor_id, ended.ended_at
            )
        self._woken = False
        self._queue: list[fx.Effect] = []
        self._plan = svc.Plan(wake_at=None, wake_for=None, service_due=None, service_kind=None)
        self._written: ClientRecord | None = None
        self._shown: tuple[object, ...] | None = None

    # -- the life of a client -----------------------------------------------------------------

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
        elif self.s.held_only and self.s.restriction is None and self.s.erased_at is None:
            # Started by `client erase` with its request, which may still be on its way.
            try:
                await workflow.wait_condition(
                    lambda: (
                        self._state.restriction is not None or self._state.erased_at is not None
                    ),
                    timeout=ONBOARDING_WAIT,
                    timeout_summary="waiting for the deletion request",
                )
            except TimeoutError:
                workflow.logger.warning("no deletion request; ending", extra=self._log())
                return None
        drain = asyncio.create_task(self._drain())
        run_ends = self._policy.service.continue_as_new_after.after(workflow.now())
        while self._state.status is not ServiceStatus.CLOSED:
            if (version := self._versions.due(workflow.now())) is not None:
                self._policy = version.policy  # what is planned from now on follows it
                workflow.logger.info("policy version in force", extra=self._log())
                self._publish([], force=True)  # the row names the version it is served under
            await self._holidays()
            s, now = self._state, workflow.now()
            self._publish(self._tell(svc.serve(s, now, self._policy)))
            self._woken = False  # this plan includes every change so far
            # The instant the timer is set for: what `serve` asks the calendar about next time.
            s.planned_wake = self._plan.wake_at
            if now >= run_ends or workflow.info().is_continue_as_new_suggested():
                break
            if s.planned_wake is not None and s.planned_wake <= now:
                continue
            wake = min((w for w in (s.planned_wake, self._versions.wake_at) if w), default=None)
            if workflow.patched(CONTINUE_ON_TIME):
                wake = run_ends if wake is None else min(wake, run_ends)
            try:
                await workflow.wait_condition(
                    lambda: self._woken,
                    timeout=None if wake is None else max(wake - now, timedelta(0)),
                    timeout_summary=f"until {self._plan.wake_for or 'a change'}",
                )
            except TimeoutError:
                pass
        s = self._state
        if s.status is not ServiceStatus.CLOSED:
            await self._holidays()
            s.done_keys = svc.live_done_keys(s, workflow.now(), self._policy)
        if s.restricted:
            await self._keep_hold(run_ends)
        await workflow.wait_condition(lambda: not self._queue and workflow.all_handlers_finished())
        drain.cancel()
        if s.status is ServiceStatus.CLOSED and not s.restricted:
            return self.view()
        carried = {"state": s, "policy": self._policy, "versions": self._versions}
        workflow.continue_as_new(ClientServiceInput(**{**dict(inp), **carried}))

    async def _keep_hold(self, run_ends: datetime) -> None:
        """A restricted client's run sleeps, on a durable timer in its history, until its hold
        ends and then shreds; or until it is due to continue as new, carrying the restriction.
        An `offboard` meanwhile starts a hold that waited for the relationship to end."""
        s = self._state
        while (r := s.restriction) is not None and s.restricted:
            now = workflow.now()
            if r.until is not None and r.until <= now:
                self._shred(r.requested_by, r.reason, [])
                return
            if now >= run_ends or workflow.info().is_continue_as_new_suggested():
                return
            wake = run_ends if r.until is None else min(r.until, run_ends)
            ends = r.until.date().isoformat() if r.until else f"{r.keep_for.iso()} after offboard"
            self._woken = False
            try:
                await workflow.wait_condition(
                    lambda: self._woken,
                    timeout=max(wake - now, timedelta(0)),
                    timeout_summary=f"restricted: {r.hold} hold until {ends}, then shred",
                )
            except TimeoutError:
                pass

    async def _drain(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._queue))
            await fx.perform(self._queue[0])
            self._queue.pop(0)

    async def _holidays(self) -> None:
        """About once a year, and at the first greeting consent: the calendar is about to need
        years the state's holiday table does not cover."""
        s = self._state
        years = s.needs_holidays(workflow.now(), self._policy)
        if years is not None:
            s.holidays = await fx.holiday_table(self._policy.holidays, years)

    # -- commands (validated by the workflow; each changes the state before any await) --------

    async def onboard(self, cmd: OnboardClient) -> OnboardResult:
        now, file = workflow.now(), cmd.file
        rows: list[TaskRecord] = []
        if self.s is None:
            self.s = svc.ServiceState(
                file=file,
                tier=tier_for(file.metrics, self._policy.tiers),
                onboarded_at=now,
                risk_assessed_at=now if file.risk_answers is not None else None,
                seq=svc.first_seq(now),
            )
            # Duties owed before: open rows now; the run loop escalates those past their grace.
            wf = svc.workflow_id_for(file.client_id)
            for duty in cmd.owed:
                rows.append(fx.open_row(self.s, svc.owe(self.s, wf, duty.kind, duty.due_at)))
        else:
            s = self.s
            # A re-submission without answers does not erase an assessment on file; the tier
            # stays the review's business (see README: tiers change at reviews).
            s.file = file.revised(risk_answers=file.risk_answers or s.file.risk_answers)
            if file.risk_answers is not None:
                rows += self._assessed(s)
        self._publish(rows, force=True)
        s = self._state
        risk = s.risk()
        return OnboardResult(
            workflow_id=svc.workflow_id_for(s.client_id),
            client_id=s.client_id,
            tier=s.tier,
            risk_profile=s.risk_profile(),
            risk_level=risk.level if risk else None,
        )

    async def update_profile(self, cmd: ProfileUpdate) -> ClientView:
        s = self._state
        basic = cmd.basic.model_dump(exclude_unset=True) if cmd.basic else None
        advisor = s.file.advisor_id
        s.file = svc.revise_file(s.file, basic, cmd.changes())
        rows = self._assessed(s) if cmd.risk_answers is not None else []
        if s.file.advisor_id != advisor:  # open duties move to the new advisor's worklist
            rows += [fx.open_row(s, t) for t in s.open_tasks]
        self._publish(rows)
        return self.view()

    async def record_callback(self, cmd: CallbackOutcome) -> CallbackRecorded:
        s, now = self._state, workflow.now()
        task = s.open_task(cmd.task_id, cmd.kind)
        if task is None:
            raise ApplicationError(f"callback: no open {cmd.kind.value}", type="NoOpenTask")
        late = now > svc.escalation_at(task, self._policy)
        svc.complete(s, task, now)
        self._publish([fx.outcome_row(s, task, cmd, late)])
        return CallbackRecorded(
            task_id=task.task_id, kind=task.kind, due_at=task.due_at, completed_at=now, late=late
        )

    async def set_status(self, status: ServiceStatus, reason: str | None = None) -> ClientView:
        s = self._state
        s.status = status
        s.status_reason = None if status is ServiceStatus.ACTIVE else reason
        if status is ServiceStatus.CLOSED:
            svc.relationship_ended(s, workflow.now(), self._policy)
        rows = self._cancelled(s) if status is ServiceStatus.CLOSED else []
        workflow.logger.info("service status", extra={**self._log(), "status": status.value})
        self._publish(rows)
        return self.view()

    async def erase(self, cmd: ErasePersonalData) -> ClientView:
        """PIPL deletion: personal data leaves the state at once and the read models as soon as
        the queue gets there (the emptied `clients` row first), and the service ends."""
        s = self._state
        rows = self._cancelled(s)
        if workflow.patched(LEGAL_HOLD):
            held = svc.request_erasure(
                s, workflow.now(), self._policy, cmd.requested_by, cmd.reason
            )
            if held is not None:
                # Storage only from now: the service ends, the row refuses contact, the file
                # is neither shown nor processed, and `_keep_hold` shreds it when the hold ends.
                self._publish(rows, force=True)
                workflow.logger.info(
                    "personal data restricted", extra={**self._log(), "hold": held.hold}
                )
                return self.view()
        self._shred(cmd.requested_by, cmd.reason, rows)
        return self.view()

    def _shred(self, requested_by: str, reason: str, rows: list[TaskRecord]) -> None:
        """The erasure itself: out of the state at once, out of the read models as soon as the
        queue gets there (the emptied `clients` row first)."""
        svc.erase(self._state, workflow.now())
        self._publish(rows, force=True)
        self._queue.append(
            fx.EraseElsewhere(
                EraseRequest(client_id=self._client_id, requested_by=requested_by, reason=reason)
            )
        )
        workflow.logger.info("personal data erased", extra=self._log())

    async def change_tier(self, sig: TierChangeSignal) -> None:
        """From the tier review. Idempotent: the review signals again when its batch retries."""
        s = self.s
        if not isinstance(sig, TierChangeSignal):  # malformed: dropped, never a failed task
            workflow.logger.warning("malformed tier change ignored", extra=self._log())
            return
        if s is None or s.status is ServiceStatus.CLOSED or sig.review_id == s.last_review_id:
            return
        s.last_review_id = sig.review_id
        if sig.new_tier is s.tier:
            return
        svc.change_tier(s, sig.new_tier)
        workflow.logger.info(
            "tier changed", extra={**self._log(), "tier": s.tier.value, "via": sig.review_id}
        )
        self._publish([])

    def policy_published(self, version: PolicyVersion) -> None:
        """From the policy rollout (or a command). In force from its effective instant: the
        run loop wakes then, switches and re-plans. A repeat is ignored."""
        if not isinstance(version, PolicyVersion):  # malformed: dropped, never a failed task
            workflow.logger.warning("malformed policy version ignored", extra=self._log())
            return
        if self._versions.told(version):
            self._woken = True

    def view(self) -> ClientView:
        return view_of(self._state, self._plan, self._versions)

    def unsettled(self) -> int:
        return len(self._queue)

    # -- telling the outside ------------------------------------------------------------------

    def _publish(self, rows: list[TaskRecord], *, force: bool = False) -> None:
        """Plans afresh, queues the `clients` row (when it changed) and `rows` as one projection,
        shows the plan in search attributes and details, and wakes the run loop to re-plan."""
        s = self._state
        self._plan = svc.plan(s, workflow.now(), self._policy)
        # A run that only keeps a hold has no file to write: the row stays as stored.
        record = None if s.held_only else fx.client_record(s, self._plan, self._policy)
        changed = record is not None and (force or record != self._written)
        if changed or rows:
            self._queue.append(
                fx.projection(
                    s, self._seq(), record if changed else None, rows, self._versions.version_id
                )
            )
            self._written = record
        self._shown = fx.show(s, self._plan, self._shown, self._policy)
        self._woken = True

    def _tell(self, served: svc.Served) -> list[TaskRecord]:
        """Queues the messages serving called for; returns the task rows to publish."""
        s = self._state
        for event in served.greetings:
            message_seq = self._seq()
            self._queue.append(
                fx.greeting(s, event, message_seq, self._seq(), self._versions.version_id)
            )
        for task in served.issued:
            if task.kind in fx.REMINDED and workflow.patched(fx.ADVISOR_REMINDERS):
                self._queue.append(fx.reminder(s, task, self._seq()))
        for task in served.escalated:
            self._queue.append(fx.escalation(s, task, self._seq()))
        # A duty issued and escalated at once (its grace ran out while paused) is one row.
        touched = {t.task_id: t for t in [*served.issued, *served.escalated]}
        return [fx.open_row(s, t) for t in touched.values()]

    def _assessed(self, s: svc.ServiceState) -> list[TaskRecord]:
        task = svc.assessed(s, workflow.now())
        return [] if task is None else [fx.closed_row(s, task, TaskStatus.DONE)]

    def _cancelled(self, s: svc.ServiceState) -> list[TaskRecord]:
        return [fx.closed_row(s, t, TaskStatus.CANCELLED) for t in svc.cancel_open(s)]

    def _seq(self) -> int:
        """The workflow's event counter: each projection and message takes the next one."""
        s = self._state
        s.seq += 1
        return s.seq

    @property
    def _state(self) -> svc.ServiceState:
        if self.s is None:
            raise ApplicationError("the client is not onboarded yet", type="NotOnboarded")
        return self.s

    def _log(self) -> dict[str, str]:
        return {"client_id": self._client_id}
