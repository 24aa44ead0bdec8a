"""ClientEventWorkflow (`event-<event_id>`): one client event, from invitations to attendance.

It records the event, invites the target segment page by page, then takes attendance until the
event is closed, by command or when the attendance window after its start runs out; whoever was
invited and not marked attended by then is recorded absent.

Bounded history (`workflow.patched(BOUNDED)`): a segment can be 100,000 clients, so the state
holds counts per status, never the invitees. Who was invited is the `event_invitations` read
model this workflow writes (and awaits) itself: attendance asks it about the listed clients, and
the no-shows are read from it page by page. Every `pages_per_run` pages, or when Temporal
suggests it, the run continues as new carrying the cursor, the counts and the projection `seq`.
Events started before kept every invitee in state; their code path stays for their replay.

Runs also continue as new once their history passes `run_bytes`, 1 MiB by default
(`workflow.patched(BYTE_BUDGET)`): a page is two activities carrying up to `invite_page_size`
client ids each, ~95 KiB sealed at 500, so a page count alone let a run reach ~4 MiB.

`close` answers at once (`workflow.patched(CLOSE_AT_ONCE)`), phase `closing`: recording the
no-shows of a large segment is hundreds of pages, and an update still waiting would both keep
its caller waiting behind them and forbid the continue-as-new that bounds the history.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.common import VersioningBehavior
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.client_events import (
        ClientEvent,
        ClientEventActivities,
        EventProjection,
        Invitation,
        InvitationStatus,
        InvitedPage,
        InvitePage,
        InvitePageResult,
        StatusQuery,
    )
    from domain.client import ClientId
    from domain.periods import IsoPeriod, Period
    from domain.policy import Policy
    from workflows import projecting
    from workflows.refusals import refusing

ACTIVITY_TIMEOUT = timedelta(minutes=2)
INVITE_HEARTBEAT = timedelta(seconds=30)
BOUNDED = "event-bounded-history"
CLOSE_AT_ONCE = "event-close-answers-at-once"
BYTE_BUDGET = "event-history-byte-budget"
RUN_BYTES = 1 << 20
Phase = Literal["inviting", "open", "closed"]
# what a caller sees: `closing` is a close accepted while the no-shows are still being recorded
ViewPhase = Literal["inviting", "open", "closing", "closed"]


def event_workflow_id(event_id: str) -> str:
    return f"event-{event_id}"


class EventCarry(BaseModel):
    phase: Phase
    after_client_id: str | None = None
    counts: dict[str, int] = {}
    seq: int = 0
    closing: bool = False


class ClientEventInput(BaseModel):
    event: ClientEvent
    policy: Policy
    attendance_window: IsoPeriod = Field(
        default=Period.parse("P14D"), description="after the start, attendance is still taken"
    )
    invite_page_size: int = Field(default=500, ge=1, le=5000)
    pages_per_run: int = Field(default=40, ge=1)
    run_bytes: int = Field(
        default=RUN_BYTES, ge=1, description="a run this large continues as new (BYTE_BUDGET)"
    )
    carried: EventCarry | None = None
    """Set by continue-as-new: where the event is."""


class Attendance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attended: list[ClientId] = Field(default=[], max_length=10_000)
    absent: list[ClientId] = Field(default=[], max_length=10_000)


class CloseEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventView(BaseModel):
    workflow_id: str
    event_id: str
    kind: str
    starts_at: str
    phase: ViewPhase
    counts: dict[str, int]


# Pinned: an event lasts weeks and finishes (its continued runs too) on the code that invited
# its guests.
@workflow.defn(name="ClientEventWorkflow", versioning_behavior=VersioningBehavior.PINNED)
class ClientEventWorkflow:
    @workflow.init
    def __init__(self, inp: ClientEventInput) -> None:
        self._inp = inp
        carried = inp.carried
        self._phase: Phase = carried.phase if carried else "inviting"
        self._status: dict[str, InvitationStatus] = {}  # only events started before BOUNDED
        self._counts: dict[str, int] = dict(carried.counts) if carried else {}
        self._bounded = carried is not None
        self._closing = carried.closing if carried else False
        self._seq = carried.seq if carried else 0
        self._attending = asyncio.Lock()
        self._budgeted = False

    @workflow.run
    async def run(self, inp: ClientEventInput) -> EventView:
        if inp.carried is not None or workflow.patched(BOUNDED):
            self._bounded = True
            return await self._run_bounded(inp)
        return await self._run_keeping_invitees(inp)

    async def _run_bounded(self, inp: ClientEventInput) -> EventView:
        carried = inp.carried or EventCarry(phase="inviting")
        self._budgeted = workflow.patched(BYTE_BUDGET)
        if self._seq == 0:
            await self._project([], write_event=True)
        after, pages = carried.after_client_id, 0
        while self._phase == "inviting":
            page = await self._invite(inp, after)
            await self._project(page.invitations)
            after, pages = page.next_after, pages + 1
            if after is None:
                self._phase = "open"
            elif self._may_continue(pages, inp) and workflow.all_handlers_finished():
                # An attendance sent meanwhile waits for the invitations to be out, so this run
                # goes on until it is answered (continue-as-new would drop it).
                self._continue(inp, after)
        closes_at = inp.attendance_window.after(inp.event.starts_at)
        while not self._closing and closes_at > workflow.now():
            try:
                await workflow.wait_condition(
                    lambda: self._closing or self._history_full(),
                    timeout=closes_at - workflow.now(),
                    timeout_summary="attendance window",
                )
            except TimeoutError:
                break
            if not self._closing:  # a long attendance phase: start a fresh history
                await workflow.wait_condition(workflow.all_handlers_finished)
                self._continue(inp, None)
        self._closing = True  # from here on, attendance is refused by the validator
        async with self._attending:  # an attendance already taken up is recorded first
            if not (carried.closing and carried.phase == "open"):
                after = None  # the cursor carried is then the no-shows'
            pages = 0
            while True:
                absent: InvitePageResult = await workflow.execute_activity_method(
                    ClientEventActivities.still_invited_page,
                    InvitedPage(
                        event_id=inp.event.event_id,
                        after_client_id=after,
                        limit=inp.invite_page_size,
                    ),
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                )
                await self._project(absent.invitations, was="invited")
                after, pages = absent.next_after, pages + 1
                if after is None:
                    break
                if self._may_continue(pages, inp) and workflow.all_handlers_finished():
                    self._continue(inp, after)  # a `close` command's answer waits instead
        self._phase = "closed"
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.view()

    async def _invite(self, inp: ClientEventInput, after: str | None) -> InvitePageResult:
        return await workflow.execute_activity_method(
            ClientEventActivities.invite_page,
            InvitePage(
                workflow_id=workflow.info().workflow_id,
                event=inp.event,
                after_client_id=after,
                limit=inp.invite_page_size,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            heartbeat_timeout=INVITE_HEARTBEAT,
        )

    def _may_continue(self, pages: int, inp: ClientEventInput) -> bool:
        return pages >= inp.pages_per_run or self._history_full()

    def _history_full(self) -> bool:
        info = workflow.info()
        if info.is_continue_as_new_suggested():
            return True
        return self._budgeted and info.get_current_history_size() > self._inp.run_bytes

    def _continue(self, inp: ClientEventInput, after: str | None) -> None:
        carried = EventCarry(
            phase=self._phase,
            after_client_id=after,
            counts=self._counts,
            seq=self._seq,
            closing=self._closing,
        )
        workflow.continue_as_new(inp.model_copy(update={"carried": carried}))

    async def _run_keeping_invitees(self, inp: ClientEventInput) -> EventView:
        await self._project([], write_event=True)
        after: str | None = None
        while True:
            page: InvitePageResult = await workflow.execute_activity_method(
                ClientEventActivities.invite_page,
                InvitePage(
                    workflow_id=workflow.info().workflow_id,
                    event=inp.event,
                    after_client_id=after,
                    limit=inp.invite_page_size,
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
            await self._project(page.invitations)
            after = page.next_after
            if after is None:
                break
        self._phase = "open"
        closes_at = inp.attendance_window.after(inp.event.starts_at)
        if closes_at > workflow.now():
            try:
                await workflow.wait_condition(
                    lambda: self._closing,
                    timeout=closes_at - workflow.now(),
                    timeout_summary="attendance window",
                )
            except TimeoutError:
                pass
        self._closing = True  # from here on, attendance is refused by the validator
        no_show = [
            Invitation(client_id=cid, status="absent")
            for cid, status in self._status.items()
            if status == "invited"
        ]
        await self._project(no_show)
        self._phase = "closed"
        # After closing: the `close` update waits for the closed phase to answer.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.view()

    async def _project(
        self,
        invitations: list[Invitation],
        write_event: bool = False,
        was: dict[str, InvitationStatus] | InvitationStatus | None = None,
    ) -> None:
        """Records the statuses; `was` is what they replace (a status for all, or per client;
        None: new invitations), so the counts follow without the list of invitees."""
        self._seq += 1
        for i in invitations:
            if not self._bounded:
                self._status[i.client_id] = i.status
                continue
            before = was.get(i.client_id) if isinstance(was, dict) else was
            if before is not None:
                self._counts[before] = self._counts.get(before, 0) - 1
            self._counts[i.status] = self._counts.get(i.status, 0) + 1
        await projecting.project(
            ClientEventActivities.project_client_event,
            EventProjection(
                workflow_id=workflow.info().workflow_id,
                seq=self._seq,
                at=workflow.now(),
                event=self._inp.event,
                write_event=write_event,
                invitations=invitations,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )

    @workflow.update
    @refusing("attend")
    async def record_attendance(self, cmd: Attendance) -> EventView:
        await workflow.wait_condition(lambda: self._phase != "inviting")
        if self._bounded:
            async with self._attending:
                return await self._attend(cmd)
        _refuse_unknown(sorted(set(cmd.attended + cmd.absent) - set(self._status)))
        if self._phase == "closed":
            raise ApplicationError("attend: the event is closed", type="EventClosed")
        await self._project(
            [Invitation(client_id=c, status="attended") for c in cmd.attended]
            + [Invitation(client_id=c, status="absent") for c in cmd.absent]
        )
        return self.view()

    async def _attend(self, cmd: Attendance) -> EventView:
        listed = sorted(set(cmd.attended + cmd.absent))
        statuses: dict[str, InvitationStatus] = await workflow.execute_activity_method(
            ClientEventActivities.invitation_statuses,
            StatusQuery(event_id=self._inp.event.event_id, client_ids=listed),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        _refuse_unknown([c for c in listed if c not in statuses])
        if self._phase == "closed" or self._closing:
            raise ApplicationError("attend: the event is closed", type="EventClosed")
        await self._project(
            [Invitation(client_id=c, status="attended") for c in cmd.attended]
            + [Invitation(client_id=c, status="absent") for c in cmd.absent],
            was=statuses,
        )
        return self.view()

    @record_attendance.validator
    def _check_attendance(self, cmd: Attendance) -> None:
        if not cmd.attended and not cmd.absent:
            raise ApplicationError("attend: list clients under attended or absent")
        both = sorted(set(cmd.attended) & set(cmd.absent))
        if both:
            raise ApplicationError(f"attend: both attended and absent: {', '.join(both)}")
        if self._phase == "closed" or self._closing:
            raise ApplicationError("attend: the event is closed", type="EventClosed")

    @workflow.update
    @refusing("close")
    async def close(self, cmd: CloseEvent) -> EventView:
        self._closing = True
        if not workflow.patched(CLOSE_AT_ONCE):
            await workflow.wait_condition(lambda: self._phase == "closed")
        return self.view()

    @close.validator
    def _check_close(self, cmd: CloseEvent) -> None:
        if self._closing or self._phase == "closed":
            raise ApplicationError("close: the event is already closed", type="EventClosed")

    @workflow.query
    def view(self) -> EventView:
        counts: dict[str, int] = {k: n for k, n in self._counts.items() if n}
        for status in self._status.values():
            counts[status] = counts.get(status, 0) + 1
        return EventView(
            workflow_id=workflow.info().workflow_id,
            event_id=self._inp.event.event_id,
            kind=self._inp.event.kind.value,
            starts_at=self._inp.event.starts_at.isoformat(),
            phase="closing" if self._closing and self._phase != "closed" else self._phase,
            counts=counts,
        )


def _refuse_unknown(unknown: list[str]) -> None:
    if unknown:
        raise ApplicationError(
            f"attend: not invited to this event: {', '.join(unknown[:10])}"
            + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""),
            type="NotInvited",
        )
