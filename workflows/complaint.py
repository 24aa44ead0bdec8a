"""`ComplaintWorkflow` (id `complaint-<complaint_id>`): one complaint, from receipt to its end.

Commands are Updates whose validators try the pure domain transition and refuse before anything
reaches the history; handlers apply the same transition, record it (`seq`, event, search
attributes, details), project it and return the state. One timer at a time stands for the next
deadline (`workflows.complaint_timers`); any change wakes the loop, which re-arms the timer, so a
moved deadline needs no special case. Notifications are queued by handlers and sent by the loop,
so a slow gateway never holds up a command's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import VersioningBehavior
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.complaints import ComplaintActivities, ComplaintProjection
    from activities.notifications import NotifyRequest
    from domain import complaint_transitions as rules
    from domain.complaint import (
        Assessment,
        ComplaintEvent,
        ExtensionRequest,
        FollowUpAnswer,
        InvestigationStep,
        Reassignment,
        RepeatSubmission,
        ResolutionPlan,
        Scalar,
        Stage,
        Withdrawal,
    )
    from domain.complaint_state import Change, Complaint, receive
    from domain.policy_versions import PolicyInForce, PolicyVersion
    from workflows import complaint_outbox as outbox
    from workflows import projecting
    from workflows.complaint_effects import current_details, search_attribute_updates
    from workflows.complaint_models import (
        MATTER_CONFIRM,
        MATTER_RELEASE,
        ComplaintInput,
        ForgetPersonalData,
        MatterMember,
        Timeline,
    )
    from workflows.complaint_timers import Due, apply_due, next_due
    from workflows.refusals import refusal, refusing

Transition = Callable[[Complaint, datetime], Change]

_PROJECTION_TIMEOUT = timedelta(seconds=30)  # retried without limit: the read model must follow
_CLOCK_SKEW = timedelta(minutes=5)
# Complaints started before this projected their receipt before acknowledging it.
ACKNOWLEDGE_WHILE_PROJECTING = "complaint-acknowledge-while-projecting"
# Server time is kept to the millisecond, deadlines are not: anything due within a tick is due.
_TICK = timedelta(milliseconds=1)


# Pinned: a complaint finishes on the code it started with (its deadlines were told to the
# complainant); its version's workers run until its last complaint closes.
@workflow.defn(versioning_behavior=VersioningBehavior.PINNED)
class ComplaintWorkflow:
    @workflow.init
    def __init__(self, inp: ComplaintInput) -> None:
        self._inp = inp
        self._policy = inp.policy
        self._versions = inp.versions.model_copy()
        self._seq = 0
        self._version = 0
        self._events: list[ComplaintEvent] = []
        self._outbox = outbox.Outbox()
        self._published: Complaint | None = None
        self._projecting = 0
        # Deadlines the rules refused when they fell due: skipped from then on (see `_fire`).
        self._refused: set[Due] = set()
        # The receipt is recorded here, not in `run`: an update may be handled before `run`
        # starts, and it must find the complaint already received. `run` projects it.
        # Received when the workflow was started, not when a worker first picked it up.
        received_at = inp.intake.received_at or workflow.info().workflow_start_time
        self._received = receive(inp.complaint_id, inp.intake, received_at, inp.policy)
        self._c: Complaint = self._received.complaint
        self._receipt = self._note(self._received)

    # -- the life of a complaint ----------------------------------------------------------------

    @workflow.run
    async def run(self, inp: ComplaintInput) -> Complaint:
        if self._c.received_at > workflow.now() + _CLOCK_SKEW:
            raise ApplicationError(
                "received_at is in the future", type="InvalidIntake", non_retryable=True
            )
        self._publish(self._receipt)
        if workflow.patched(ACKNOWLEDGE_WHILE_PROJECTING):
            # The acknowledgement goes out while the receipt is projected, not after: `open`
            # waits for both, and one activity's round trip fewer is on its way. Projections
            # keep their order by `seq`, whichever finishes first (upsert_newer, insert_once).
            receipt = asyncio.create_task(self._project(self._received.complaint, self._receipt))
            await self._tell_matter(MATTER_CONFIRM)
            await self._acknowledge()
            await receipt
        else:
            await self._project(self._received.complaint, self._receipt)
            await self._tell_matter(MATTER_CONFIRM)
            await self._acknowledge()
        while self._c.is_open:
            await self._send_notices()
            if (version := self._versions.due(workflow.now())) is not None:
                # Deadlines already set (and told) stay; those computed from now follow it.
                self._policy = version.policy
            if self._c.is_open:
                await self._wait_for_change_or_deadline()
        await self._tell_matter(MATTER_RELEASE)
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._send_notices()
        return self._c

    async def _acknowledge(self) -> None:
        ack = outbox.request(self._c, self._seq, "client", None, "complaint_acknowledged")
        delivery = await self._notify(ack)
        if self._c.stage is Stage.INTAKE:  # a withdrawal may have overtaken the acknowledgement
            await self._record(rules.acknowledge(self._c, workflow.now(), delivery))

    async def _wait_for_change_or_deadline(self) -> None:
        due = next_due(self._c, self._policy, workflow.now(), skip=self._refused)
        seen = self._version

        def woken() -> bool:
            return self._version != seen or bool(self._outbox)

        switch = self._versions.wake_at
        if switch is not None and (due is None or switch < due.at):
            # a published version comes into force first: wake then, and plan under it
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    woken,
                    timeout=max(switch - workflow.now(), _TICK),
                    timeout_summary="policy version",
                )
            return
        if due is None:
            await workflow.wait_condition(woken)
            return
        delay = due.at - workflow.now()
        if delay >= _TICK:
            try:
                await workflow.wait_condition(woken, timeout=delay, timeout_summary=due.kind.value)
                return
            except TimeoutError:
                pass
        await self._fire(due)

    async def _fire(self, expected: Due) -> None:
        now = workflow.now()
        due = next_due(self._c, self._policy, now, skip=self._refused)
        # Something may have changed in the same activation as the timer fired.
        if due is None or due.kind is not expected.kind or due.at - now >= _TICK:
            return
        try:
            change = apply_due(self._c, due, now, self._inp.supervision)
        except ValueError as err:
            # Nobody to answer, and raising would fail the task forever: the deadline is
            # logged as refused and skipped, and the complaint waits for the next one.
            self._refused.add(due)
            workflow.logger.error(
                "deadline refused by the rules; skipped",
                extra={"due": due.kind.value, "refusal": refusal(err).message},
            )
            return
        await self._record(change)

    async def _tell_matter(self, signal: str) -> None:
        """Confirms (at the start) or releases (at the end) the matter registry of a complaint
        opened before registries started their complaints (see `ComplaintInput`)."""
        if not self._inp.matter_workflow_id:
            return
        registry = workflow.get_external_workflow_handle(self._inp.matter_workflow_id)
        try:
            await registry.signal(signal, MatterMember(complaint_id=self._c.complaint_id))
        except FailureError:
            # The registry is gone; the next `open` on this matter replaces an ended owner.
            workflow.logger.warning("matter registry not reachable", extra={"signal": signal})

    # -- recording a change ---------------------------------------------------------------------

    async def _record(self, change: Change) -> Complaint:
        event = self._note(change)
        self._publish(event)
        await self._project(change.complaint, event)
        return change.complaint

    def _note(self, change: Change) -> ComplaintEvent:
        """The state moves and the event gets its `seq`, in one step no handler can interleave."""
        event = ComplaintEvent(
            seq=self._seq + 1,
            kind=change.kind,
            at=workflow.now(),
            stage_from=None if self._seq == 0 else self._c.stage,
            stage_to=change.complaint.stage,
            actor=change.actor,
            data=change.data,
            detail=change.detail,
        )
        self._seq = event.seq
        self._c = change.complaint
        self._events.append(event)
        self._version += 1
        return event

    def _publish(self, event: ComplaintEvent) -> None:
        """Search attributes, the UI's details and queued notices follow the current state."""
        updates = search_attribute_updates(self._c, self._published)
        if updates:
            workflow.upsert_search_attributes(updates)
        self._published = self._c
        last = f"{event.kind} (#{event.seq})"
        workflow.set_current_details(current_details(self._c, last, self._policy))
        self._outbox.queue_for(event.kind, self._c, event.seq)
        workflow.logger.info(
            "complaint event", extra={"kind": event.kind, "seq": event.seq, "stage": self._c.stage}
        )

    async def _project(self, snapshot: Complaint, event: ComplaintEvent) -> None:
        """Waits for the read model; `_projecting` lets `acknowledgement` offer read-your-writes."""
        self._projecting += 1
        await projecting.project(
            ComplaintActivities.project,
            ComplaintProjection(
                workflow_id=workflow.info().workflow_id,
                seq=event.seq,
                complaint=snapshot,
                intake=self._inp.intake,
                event=event,
                policy_version=self._versions.version_id,
            ),
            start_to_close_timeout=_PROJECTION_TIMEOUT,
            summary=f"project #{event.seq} {event.kind}",
        )
        self._projecting -= 1

    async def _send_notices(self) -> None:
        while (req := self._outbox.pop()) is not None:
            await self._notify(req)

    async def _notify(self, req: NotifyRequest) -> str:
        """A notification that could not go out is recorded, and the complaint goes on."""
        status = await outbox.send(req)
        if status == "failed":
            note: dict[str, Scalar] = {"template": req.template, "recipient": req.recipient_kind}
            await self._record(self._c.note("notification_failed", note))
        return status

    # -- commands -------------------------------------------------------------------------------

    def _check(self, transition: Transition) -> None:
        try:
            transition(self._c, workflow.now())
        except ValueError as err:
            raise refusal(err, type="ComplaintRuleError") from None

    async def _apply(self, transition: Transition) -> Complaint:
        # A refusal here (the state moved on since the validator ran) answers the update:
        # every handler is `refusing`.
        return await self._record(transition(self._c, workflow.now()))

    @workflow.update
    @refusing()
    async def assess(self, cmd: Assessment) -> Complaint:
        return await self._apply(lambda c, now: rules.assess(c, cmd, now, self._policy))

    @assess.validator
    def _check_assess(self, cmd: Assessment) -> None:
        self._check(lambda c, now: rules.assess(c, cmd, now, self._policy))

    @workflow.update
    @refusing()
    async def investigate(self, cmd: InvestigationStep) -> Complaint:
        return await self._apply(lambda c, now: rules.investigate(c, cmd, now))

    @investigate.validator
    def _check_investigate(self, cmd: InvestigationStep) -> None:
        self._check(lambda c, now: rules.investigate(c, cmd, now))

    @workflow.update
    @refusing()
    async def resolve(self, cmd: ResolutionPlan) -> Complaint:
        return await self._apply(lambda c, now: rules.resolve(c, cmd, now, self._policy))

    @resolve.validator
    def _check_resolve(self, cmd: ResolutionPlan) -> None:
        self._check(lambda c, now: rules.resolve(c, cmd, now, self._policy))

    @workflow.update
    @refusing()
    async def follow_up(self, cmd: FollowUpAnswer) -> Complaint:
        return await self._apply(lambda c, now: rules.follow_up(c, cmd, now, self._policy))

    @follow_up.validator
    def _check_follow_up(self, cmd: FollowUpAnswer) -> None:
        self._check(lambda c, now: rules.follow_up(c, cmd, now, self._policy))

    @workflow.update
    @refusing()
    async def extend(self, cmd: ExtensionRequest) -> Complaint:
        return await self._apply(lambda c, now: rules.extend(c, cmd, now, self._policy))

    @extend.validator
    def _check_extend(self, cmd: ExtensionRequest) -> None:
        self._check(lambda c, now: rules.extend(c, cmd, now, self._policy))

    @workflow.update
    @refusing()
    async def reassign(self, cmd: Reassignment) -> Complaint:
        return await self._apply(lambda c, now: rules.reassign(c, cmd, now))

    @reassign.validator
    def _check_reassign(self, cmd: Reassignment) -> None:
        self._check(lambda c, now: rules.reassign(c, cmd, now))

    @workflow.update
    @refusing()
    async def withdraw(self, cmd: Withdrawal) -> Complaint:
        return await self._apply(lambda c, now: rules.withdraw(c, cmd, now))

    @withdraw.validator
    def _check_withdraw(self, cmd: Withdrawal) -> None:
        self._check(lambda c, now: rules.withdraw(c, cmd, now))

    @workflow.update
    @refusing()
    async def merge_repeat(self, cmd: RepeatSubmission) -> Complaint:
        return await self._apply(lambda c, now: rules.merge_repeat(c, cmd, now))

    @merge_repeat.validator
    def _check_merge_repeat(self, cmd: RepeatSubmission) -> None:
        self._check(lambda c, now: rules.merge_repeat(c, cmd, now))

    @workflow.update
    @refusing()
    async def acknowledgement(self) -> Complaint:
        """Returns once the complaint is past intake and its read model shows it: what `open`
        answers with, so a caller can read the projection straight away."""
        await workflow.wait_condition(
            lambda: self._c.stage is not Stage.INTAKE and self._projecting == 0
        )
        return self._c

    @workflow.signal
    def policy_published(self, version: PolicyVersion) -> None:
        """From the policy rollout: a version in force from its effective instant."""
        if not isinstance(version, PolicyVersion):  # malformed: dropped, never a failed task
            workflow.logger.warning("malformed policy version ignored")
            return
        if self._versions.told(version):
            self._version += 1  # wakes the loop to wait for the version's instant

    @workflow.signal
    def forget_personal_data(self, cmd: ForgetPersonalData) -> None:
        """The client was erased: later projection inputs carry the intake without the person.
        State only, no command: histories recorded before this handler existed replay as they
        were, and a complaint pinned to an older build buffers the signal (the projection writer
        keeps its read model empty either way)."""
        self._inp = self._inp.model_copy(update={"intake": self._inp.intake.erased()})
        workflow.logger.info("personal data forgotten", extra={"seq": self._seq})

    # -- queries --------------------------------------------------------------------------------

    @workflow.query
    def policy(self) -> PolicyInForce:
        return self._versions

    @workflow.query
    def state(self) -> Complaint:
        return self._c

    @workflow.query
    def timeline(self) -> Timeline:
        return Timeline(complaint_id=self._c.complaint_id, events=list(self._events))
