"""ClientEventWorkflow (`event-<event_id>`): one client event, from invitations to attendance.

It records the event, invites the target segment page by page, then takes attendance until the
event is closed, by command or when the attendance window after its start runs out; whoever was
invited and not marked attended by then is recorded absent.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.client_events import (
        ClientEvent,
        ClientEventActivities,
        EventProjection,
        Invitation,
        InvitationStatus,
        InvitePage,
        InvitePageResult,
    )
    from domain.client import ClientId
    from domain.periods import IsoPeriod, Period
    from domain.policy import Policy
    from workflows.refusals import refusing

ACTIVITY_TIMEOUT = timedelta(minutes=2)
Phase = Literal["inviting", "open", "closed"]


def event_workflow_id(event_id: str) -> str:
    return f"event-{event_id}"


class ClientEventInput(BaseModel):
    event: ClientEvent
    policy: Policy
    attendance_window: IsoPeriod = Field(
        default=Period.parse("P14D"), description="after the start, attendance is still taken"
    )
    invite_page_size: int = Field(default=500, ge=1, le=5000)


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
    phase: Phase
    counts: dict[str, int]


@workflow.defn(name="ClientEventWorkflow")
class ClientEventWorkflow:
    @workflow.init
    def __init__(self, inp: ClientEventInput) -> None:
        self._inp = inp
        self._phase: Phase = "inviting"
        self._status: dict[str, InvitationStatus] = {}
        self._closing = False
        self._seq = 0

    @workflow.run
    async def run(self, inp: ClientEventInput) -> EventView:
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

    async def _project(self, invitations: list[Invitation], write_event: bool = False) -> None:
        self._seq += 1
        for i in invitations:
            self._status[i.client_id] = i.status
        await workflow.execute_activity_method(
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
        unknown = sorted(set(cmd.attended + cmd.absent) - set(self._status))
        if unknown:
            raise ApplicationError(
                f"attend: not invited to this event: {', '.join(unknown[:10])}"
                + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""),
                type="NotInvited",
            )
        if self._phase == "closed":
            raise ApplicationError("attend: the event is closed", type="EventClosed")
        await self._project(
            [Invitation(client_id=c, status="attended") for c in cmd.attended]
            + [Invitation(client_id=c, status="absent") for c in cmd.absent]
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
        await workflow.wait_condition(lambda: self._phase == "closed")
        return self.view()

    @close.validator
    def _check_close(self, cmd: CloseEvent) -> None:
        if self._closing or self._phase == "closed":
            raise ApplicationError("close: the event is already closed", type="EventClosed")

    @workflow.query
    def view(self) -> EventView:
        counts: dict[str, int] = {}
        for status in self._status.values():
            counts[status] = counts.get(status, 0) + 1
        return EventView(
            workflow_id=workflow.info().workflow_id,
            event_id=self._inp.event.event_id,
            kind=self._inp.event.kind.value,
            starts_at=self._inp.event.starts_at.isoformat(),
            phase=self._phase,
            counts=counts,
        )
