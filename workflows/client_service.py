"""ClientServiceWorkflow (`client-<client_id>`): one per client, for as long as the firm serves it.

It sleeps on a durable timer until the next thing the policy owes the client (DOMAIN §5: a
callback by tier, a birthday or holiday greeting, a plan review, a risk re-assessment) or until
an open callback runs out of grace, serves what is due, and plans again. Any change (profile,
tier, pause, resume, offboard) wakes it at once to re-plan. It continues as new every
`service.continue_as_new_after` (or when Temporal suggests it) carrying its state, so a client
served for decades still has a short history.

All side effects go through one lane (`_lane`): a projection write is never overtaken by a later
one, and a greeting never goes out before the consents it depends on have been written.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.client_service_duties as duties
    import workflows.client_service_state as st
    from activities.clients import TaskRecord
    from activities.tier_review import TierChangeSignal
    from domain.enums import ServiceStatus
    from domain.tiering import tier_for
    from workflows.client_service_effects import Effects, view_of
    from workflows.client_service_models import (
        WORKFLOW_TYPE,
        CallbackOutcome,
        CallbackRecorded,
        ClientServiceInput,
        ClientView,
        ErasePersonalData,
        OffboardClient,
        OnboardClient,
        OnboardResult,
        PauseService,
        ProfileUpdate,
        ResumeService,
    )
    from workflows.refusals import refusal, refusing

# A start whose onboarding update was refused has nothing to serve; it ends after this.
ONBOARDING_WAIT = timedelta(hours=1)


# A tier change re-plans callbacks from the last callback done (was: the onboarding grid).
REPLAN_FROM_LAST_CALLBACK = "tier-change-replans-from-last-callback"


A = TypeVar("A", bound=BaseModel)
C = TypeVar("C")
Handler = Callable[["ClientServiceWorkflow", C], Coroutine[Any, Any, A]]


def once(model: type[A]) -> Callable[[Handler[C, A]], Handler[C, A]]:
    """A command applied in an earlier run of this chain, sent again with the same update id,
    gets that run's answer instead of being applied again (`st.Answered`); within a run the
    server itself deduplicates update ids."""

    def wrap(handler: Handler[C, A]) -> Handler[C, A]:
        @functools.wraps(handler)
        async def answered_once(self: ClientServiceWorkflow, cmd: C) -> A:
            update_id = self._update_id()
            if self._s is not None and (prior := self._s.answer_to(update_id)) is not None:
                return model.model_validate(prior)
            answer = await handler(self, cmd)
            if self._s is not None:
                self._s.remember(update_id, workflow.now(), answer)
            return answer

        return answered_once

    return wrap


@workflow.defn(name=WORKFLOW_TYPE)
class ClientServiceWorkflow:
    @workflow.init
    def __init__(self, inp: ClientServiceInput) -> None:
        self._policy = inp.policy
        self._client_id = inp.client_id
        self._s: st.ServiceState | None = inp.state
        self._replan = False
        self._lane = asyncio.Lock()
        self._fx = Effects(inp.policy, inp.client_id)

    @workflow.run
    async def run(self, inp: ClientServiceInput) -> ClientView | None:
        if self._s is None:
            try:
                await workflow.wait_condition(
                    lambda: self._s is not None,
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
                await self._fx.publish(s, await duties.serve_due(self._fx, s, self._policy))
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

    @workflow.update
    @refusing("onboard")
    @once(OnboardResult)
    async def onboard(self, cmd: OnboardClient) -> OnboardResult:
        async with self._lane:
            now, file = workflow.now(), cmd.file
            rows: list[TaskRecord] = []
            if self._s is None:
                self._s = st.ServiceState(
                    file=file,
                    tier=tier_for(file.metrics, self._policy.tiers),
                    onboarded_at=now,
                    risk_assessed_at=now if file.risk_answers is not None else None,
                    seq=st.first_seq(now),
                )
            else:
                s = self._s
                # A re-submission without answers does not erase an assessment on file; the
                # tier stays the review's business (see README: tiers change at reviews).
                answers = file.risk_answers or s.file.risk_answers
                s.file = file.revised(risk_answers=answers)
                if file.risk_answers is not None:
                    rows += duties.assessed(self._fx, s, now)
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

    @onboard.validator
    def _check_onboard(self, cmd: OnboardClient) -> None:
        if self._repeat():
            return
        if cmd.file.client_id != self._client_id:
            raise ApplicationError(
                f"onboard: the file is for client {cmd.file.client_id!r}, this workflow serves "
                f"{self._client_id!r}",
                type="InvalidClient",
            )
        if self._s is not None and self._s.status is ServiceStatus.CLOSED:
            raise ApplicationError("onboard: the client was offboarded", type="ClientClosed")

    @workflow.update
    @refusing("update")
    @once(ClientView)
    async def update_profile(self, cmd: ProfileUpdate) -> ClientView:
        async with self._lane:
            s, now = self._state, workflow.now()
            basic = cmd.basic.model_dump(exclude_unset=True) if cmd.basic else None
            advisor = s.file.advisor_id
            s.file = st.revise_file(s.file, basic, cmd.changes())
            rows = duties.assessed(self._fx, s, now) if cmd.risk_answers is not None else []
            if s.file.advisor_id != advisor:  # open duties move to the new advisor's worklist
                rows += [self._fx.open_row(s, t) for t in s.open_tasks]
            await self._fx.publish(s, rows)
            self._replan = True
        return self.view()

    @update_profile.validator
    def _check_profile(self, cmd: ProfileUpdate) -> None:
        if self._repeat():
            return
        s = self._require_served("update")
        if not cmd.model_fields_set:
            raise ApplicationError(
                "update: nothing to change; give at least one of "
                + ", ".join(ProfileUpdate.model_fields),
                type="InvalidUpdate",
            )
        basic = cmd.basic.model_dump(exclude_unset=True) if cmd.basic else None
        try:
            st.revise_file(s.file, basic, cmd.changes())
        except ValueError as err:
            raise refusal(err, "update", "InvalidUpdate") from None

    @workflow.update
    @refusing("callback")
    @once(CallbackRecorded)
    async def record_callback(self, cmd: CallbackOutcome) -> CallbackRecorded:
        async with self._lane:
            s, now = self._state, workflow.now()
            task = s.open_task(cmd.task_id, cmd.kind)
            if task is None:  # done by a concurrent update after validation
                raise ApplicationError(f"callback: no open {cmd.kind.value}", type="NoOpenTask")
            late = now > st.escalation_at(task, self._policy)
            row = duties.record_outcome(self._fx, s, task, cmd, late)
            await self._fx.publish(s, [row])
            self._replan = True
        return CallbackRecorded(
            task_id=task.task_id, kind=task.kind, due_at=task.due_at, completed_at=now, late=late
        )

    @record_callback.validator
    def _check_callback(self, cmd: CallbackOutcome) -> None:
        if self._repeat():
            return
        s = self._require_served("callback")
        if s.open_task(cmd.task_id, cmd.kind) is None:
            which = f"task {cmd.task_id!r}" if cmd.task_id else f"{cmd.kind.value}"
            raise ApplicationError(
                f"callback: no open {which} for client {self._client_id}", type="NoOpenTask"
            )

    @workflow.update
    @refusing("pause")
    @once(ClientView)
    async def pause(self, cmd: PauseService) -> ClientView:
        return await self._set_status(ServiceStatus.PAUSED)

    @pause.validator
    def _check_pause(self, cmd: PauseService) -> None:
        if self._repeat():
            return
        if self._require_served("pause").status is ServiceStatus.PAUSED:
            raise ApplicationError("pause: the service is already paused", type="InvalidState")

    @workflow.update
    @refusing("resume")
    @once(ClientView)
    async def resume(self, cmd: ResumeService) -> ClientView:
        return await self._set_status(ServiceStatus.ACTIVE)

    @resume.validator
    def _check_resume(self, cmd: ResumeService) -> None:
        if self._repeat():
            return
        if self._require_served("resume").status is ServiceStatus.ACTIVE:
            raise ApplicationError("resume: the service is not paused", type="InvalidState")

    @workflow.update
    @refusing("offboard")
    @once(ClientView)
    async def offboard(self, cmd: OffboardClient) -> ClientView:
        return await self._set_status(ServiceStatus.CLOSED)

    @offboard.validator
    def _check_offboard(self, cmd: OffboardClient) -> None:
        if self._repeat():
            return
        self._require_served("offboard")

    @workflow.update
    @refusing("erase")
    @once(ClientView)
    async def erase_personal_data(self, cmd: ErasePersonalData) -> ClientView:
        """PIPL deletion: personal data leaves the state, the read models, and the service ends;
        the next run of this id (a new onboarding) starts from a clean file."""
        async with self._lane:
            s, now = self._state, workflow.now()
            rows = duties.cancel_open(self._fx, s, now)
            st.erase(s, now)
            await self._fx.publish(s, rows, force=True)
            await self._fx.erase_elsewhere(cmd.requested_by, cmd.reason)
            workflow.logger.info("personal data erased", extra=self._log())
            self._replan = True
        return self.view()

    @erase_personal_data.validator
    def _check_erase(self, cmd: ErasePersonalData) -> None:
        if self._repeat():
            return
        if not isinstance(cmd, ErasePersonalData):  # a JSON null arrives as None
            raise ApplicationError("erase: requested_by and reason are required")
        self._require_served("erase")

    @workflow.signal
    async def change_tier(self, sig: TierChangeSignal) -> None:
        """From the tier review. Idempotent: the review signals again when its batch retries."""
        s = self._s
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

    @workflow.query
    def view(self) -> ClientView:
        return view_of(self._state, self._fx.current_plan())

    @property
    def _state(self) -> st.ServiceState:
        if self._s is None:
            raise ApplicationError("the client is not onboarded yet", type="NotOnboarded")
        return self._s

    def _update_id(self) -> str:
        info = workflow.current_update_info()
        assert info is not None, "only update handlers and validators have an update id"
        return info.id

    def _repeat(self) -> bool:
        """A command answered in an earlier run: its validator lets it through to `once`."""
        return self._s is not None and self._s.answer_to(self._update_id()) is not None

    def _require_served(self, verb: str) -> st.ServiceState:
        s = self._state
        if s.status is ServiceStatus.CLOSED:
            raise ApplicationError(f"{verb}: the client was offboarded", type="ClientClosed")
        return s

    async def _set_status(self, status: ServiceStatus) -> ClientView:
        async with self._lane:
            s, now = self._state, workflow.now()
            s.status = status
            rows = duties.cancel_open(self._fx, s, now) if status is ServiceStatus.CLOSED else []
            workflow.logger.info("service status", extra={**self._log(), "status": status.value})
            await self._fx.publish(s, rows)
            self._replan = True
        return self.view()

    def _log(self) -> dict[str, str]:
        return {"client_id": self._client_id}
