"""An event's attendance accepted while its invitations are still going out, then overtaken by
`close` before its handler runs: answered (recorded or refused), never a failed workflow task."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.client_events import ClientEventActivities, InvitePage, InvitePageResult
from activities.deps import ActivityDeps
from activities.notifications import NotificationActivities
from commands.events import COMMANDS
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from tests.workflows.test_client_commands_safety import ANSWER_WITHIN, task_failures
from tests.workflows.test_client_events import seed
from tests.workflows.test_client_support import client_worker, ctx
from workflows.client_events import Attendance, ClientEventWorkflow, CloseEvent


class HeldInvites:
    """The invitation pages, held until released: the event stays in its inviting phase."""

    def __init__(self, engine: Engine, keyring: KeyRing) -> None:
        deps = ActivityDeps(engine=engine, cipher=FieldCipher(keyring))
        self._real = ClientEventActivities(deps, NotificationActivities(deps))
        self.released = threading.Event()

    @activity.defn(name="invite_page")
    def invite_page(self, req: InvitePage) -> InvitePageResult:
        self.released.wait(timeout=60)
        return self._real.invite_page(req)


async def test_attendance_overtaken_by_close_is_answered_not_a_failed_task(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    people = seed(db)
    held = HeldInvites(db, keyring)
    async with client_worker(
        ts_env.client, db, keyring, ends=["event-ev-race"], replace=[held.invite_page]
    ) as queue:
        c = ctx(ts_env.client, queue)
        starts = await ts_env.get_current_time() + timedelta(days=30)
        await COMMANDS["create"](
            c,
            None,
            {
                "event_id": "ev-race",
                "kind": "seminar",
                "title": "Markets",
                "starts_at": starts.isoformat(),
                "segment": {"tiers": ["diamond"]},
            },
        )
        handle = ts_env.client.get_workflow_handle_for(ClientEventWorkflow.run, "event-ev-race")
        someone = next(cid for cid, p in people.items() if p["tier"] == "diamond")
        attending = await handle.start_update(
            ClientEventWorkflow.record_attendance,
            Attendance(attended=[someone]),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        closing = await handle.start_update(
            ClientEventWorkflow.close, CloseEvent(), wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        held.released.set()

        try:
            await asyncio.wait_for(attending.result(), ANSWER_WITHIN)
        except WorkflowUpdateFailedError as refused:  # closed first: refused, by the rules
            assert isinstance(refused.cause, ApplicationError)
        closed = await asyncio.wait_for(closing.result(), ANSWER_WITHIN)
        assert closed.phase in {"closing", "closed"}  # accepted at once; no-shows follow
        for _ in range(100):
            shown = await asyncio.wait_for(COMMANDS["show"](c, "ev-race", {}), ANSWER_WITHIN)
            if shown["phase"] == "closed":
                break
            await asyncio.sleep(0.1)
        assert shown["phase"] == "closed"
        assert await task_failures(handle) == []
