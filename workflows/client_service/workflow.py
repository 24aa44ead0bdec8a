"""ClientServiceWorkflow (`client-<client_id>`): one per client, for as long as the firm serves it.

This class is the workflow's face: its updates with their validators, the tier signal and the
query. What they do is `Service` (`workflows.client_service.service`); runs started before
`EFFECTS_QUEUED` replay on `LegacyService`, which kept every command behind a lane of
activities.

Every update is `refusing` (a rule's refusal in the handler answers that update, it never fails
the workflow task; see `workflows.refusals`) and answered `once`: the server deduplicates
update ids within a run, and the state remembers the recent ones across continue-as-new
(`domain.client_service.Answered`), so a retried `--request-id` is answered, not applied again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import VersioningBehavior
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import domain.client_service as svc
    from activities.tier_review import TierChangeSignal
    from domain.enums import ServiceStatus
    from domain.policy_versions import PolicyVersion
    from workflows.client_service.legacy import LegacyService
    from workflows.client_service.models import (
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
    from workflows.client_service.service import Service
    from workflows.refusals import refusal, refusing

# Commands change the state and queue their effects; one drain loop performs them (was: each
# command held a lane across its activities).
EFFECTS_QUEUED = "client-service-effects-queued"

A = TypeVar("A", bound=BaseModel)
C = TypeVar("C")
Handler = Callable[["ClientServiceWorkflow", C], Coroutine[Any, Any, A]]


def once(model: type[A]) -> Callable[[Handler[C, A]], Handler[C, A]]:
    """A command applied in an earlier run of this chain, sent again with the same update id,
    gets that run's answer instead of being applied again (`svc.Answered`)."""

    def wrap(handler: Handler[C, A]) -> Handler[C, A]:
        @functools.wraps(handler)
        async def answered_once(self: ClientServiceWorkflow, cmd: C) -> A:
            update_id = self._update_id()
            s = self._service.s
            if s is not None and (prior := s.answer_to(update_id)) is not None:
                return model.model_validate(prior)
            answer = await handler(self, cmd)
            if (s := self._service.s) is not None:
                s.remember(update_id, workflow.now(), answer)
            return answer

        return answered_once

    return wrap


# Auto-upgrade: a client is served for decades and sleeps for months, so it moves to the current
# code at its next task; a change to its commands goes behind `workflow.patched` (README,
# "Deploying a change").
@workflow.defn(name=WORKFLOW_TYPE, versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class ClientServiceWorkflow:
    @workflow.init
    def __init__(self, inp: ClientServiceInput) -> None:
        self._client_id = inp.client_id
        # Decided once, at the run's first task: a replayed older run keeps its old commands.
        self._service: Service | LegacyService = (
            Service(inp) if workflow.patched(EFFECTS_QUEUED) else LegacyService(inp)
        )

    @workflow.run
    async def run(self, inp: ClientServiceInput) -> ClientView | None:
        return await self._service.run(inp)

    @workflow.update
    @refusing("onboard")
    @once(OnboardResult)
    async def onboard(self, cmd: OnboardClient) -> OnboardResult:
        return await self._service.onboard(cmd)

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
        s = self._service.s
        if s is not None and s.restricted:
            raise self._restricted("onboard", s)
        if s is not None and s.status is ServiceStatus.CLOSED:
            raise ApplicationError("onboard: the client was offboarded", type="ClientClosed")

    @workflow.update
    @refusing("update")
    @once(ClientView)
    async def update_profile(self, cmd: ProfileUpdate) -> ClientView:
        return await self._service.update_profile(cmd)

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
            svc.revise_file(s.file, basic, cmd.changes())
        except ValueError as err:
            raise refusal(err, "update", "InvalidUpdate") from None

    @workflow.update
    @refusing("callback")
    @once(CallbackRecorded)
    async def record_callback(self, cmd: CallbackOutcome) -> CallbackRecorded:
        return await self._service.record_callback(cmd)

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
        reason = cmd.reason if isinstance(cmd, PauseService) else None  # a JSON null: None
        return await self._service.set_status(ServiceStatus.PAUSED, reason)

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
        return await self._service.set_status(ServiceStatus.ACTIVE)

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
        reason = cmd.reason if isinstance(cmd, OffboardClient) else None  # a JSON null: None
        return await self._service.set_status(ServiceStatus.CLOSED, reason)

    @offboard.validator
    def _check_offboard(self, cmd: OffboardClient) -> None:
        if self._repeat():
            return
        s = self._service.s
        if s is not None and s.restricted and s.ended_at is None:
            return  # the relationship ends now, and the hold's clock starts
        self._require_served("offboard")

    @workflow.update
    @refusing("erase")
    @once(ClientView)
    async def erase_personal_data(self, cmd: ErasePersonalData) -> ClientView:
        """PIPL deletion: personal data leaves the state, the read models, and the service ends;
        the next run of this id (a new onboarding) starts from a clean file."""
        return await self._service.erase(cmd)

    @erase_personal_data.validator
    def _check_erase(self, cmd: ErasePersonalData) -> None:
        if self._repeat():
            return
        if not isinstance(cmd, ErasePersonalData):  # a JSON null arrives as None
            raise ApplicationError("erase: requested_by and reason are required")
        s = self._service.s
        if s is not None and s.erased_at is not None:
            raise ApplicationError(
                f"erase: client {self._client_id}'s personal data was already erased on "
                f"{s.erased_at.date().isoformat()}",
                type="AlreadyErased",
            )
        if s is not None and (r := s.restriction) is not None:
            until = (
                r.until.date().isoformat()
                if r.until
                else "the relationship ends + " + (r.keep_for.iso())
            )
            raise ApplicationError(
                f"erase: client {self._client_id} is already restricted on the request of "
                f"{r.requested_at.date().isoformat()} ({r.reason}); the {r.hold} hold keeps "
                f"the record until {until}, then it is shredded",
                type="AlreadyRestricted",
            )
        if s is not None and s.held_only:
            return
        self._require_served("erase")

    @workflow.signal
    async def change_tier(self, sig: TierChangeSignal) -> None:
        """From the tier review. Idempotent: the review signals again when its batch retries."""
        await self._service.change_tier(sig)

    @workflow.signal
    def policy_published(self, version: PolicyVersion) -> None:
        """From the policy rollout: a published version, in force from its effective instant.
        Runs started before `EFFECTS_QUEUED` keep their policy until they continue as new."""
        if isinstance(self._service, Service):
            self._service.policy_published(version)
        else:
            workflow.logger.warning("policy version not taken by a legacy run")

    @workflow.query
    def view(self) -> ClientView:
        return self._service.view()

    @workflow.query
    def unsettled(self) -> int:
        """Effects queued and not yet performed: 0 once the read models show everything this
        run did. `commands` wait for it (briefly) to give their callers read-your-writes."""
        return self._service.unsettled()

    def _update_id(self) -> str:
        info = workflow.current_update_info()
        assert info is not None, "only update handlers and validators have an update id"
        return info.id

    def _repeat(self) -> bool:
        """A command answered in an earlier run: its validator lets it through to `once`."""
        s = self._service.s
        return s is not None and s.answer_to(self._update_id()) is not None

    def _require_served(self, verb: str) -> svc.ServiceState:
        s = self._service.s
        if s is None:
            raise ApplicationError("the client is not onboarded yet", type="NotOnboarded")
        if s.restricted:
            raise self._restricted(verb, s)
        if s.status is ServiceStatus.CLOSED:
            raise ApplicationError(f"{verb}: the client was offboarded", type="ClientClosed")
        return s

    def _restricted(self, verb: str, s: svc.ServiceState) -> ApplicationError:
        r = s.restriction
        assert r is not None
        return ApplicationError(
            f"{verb}: client {self._client_id} is restricted (a deletion request held by the "
            f"{r.hold} hold): nothing is processed until it is shredded",
            type="ClientRestricted",
        )
