"""A client brought over from the firm's earlier system with a callback already owed there
(`client onboard`'s `owed_duties`): open from the first onboarding with its own due date, and
escalated at once when its grace has long run out, as a callback left undone here would be.

Records `tests/histories/<release>/client_service_owed_callback.json` (the onboarding update
carrying `owed`) with RECORD_CLIENT_HISTORIES=1; every run replays the history it made.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from commands.base import CommandContext, CommandError
from commands.clients import COMMANDS
from domain.enums import Tier
from domain.policy import Policy
from infra.keys import KeyRing
from projections.subject_keys import PgSubjectKeys, Sealer
from tests.helpers.histories import recording_dir, uncoded_client
from tests.workflows.test_client_support import client_body, client_worker, outbox, tasks
from workflows.client_service import ClientServiceWorkflow


def _plain(env: WorkflowEnvironment, keyring: KeyRing) -> Client:
    """Histories recorded without the codec, as tests/histories keeps them."""
    return uncoded_client(env.client, keyring)


async def test_an_owed_callback_long_past_is_overdue_from_the_start(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    cid = "c-owed-dia"
    client = _plain(ts_env, keyring)
    async with client_worker(client, db, keyring, ends=[f"client-{cid}"]) as queue:
        sealer = Sealer(PgSubjectKeys(db, keyring))
        c = CommandContext(client=client, policy=Policy(), task_queue=queue, sealer=sealer)
        now = await ts_env.get_current_time()
        owed_at = (now - timedelta(days=20)).replace(microsecond=0)
        future = {"kind": "callback", "due_at": (now + timedelta(days=400)).isoformat()}
        with pytest.raises(CommandError, match="owed_duties"):
            await COMMANDS["onboard"](c, None, client_body(cid, Tier.DIAMOND, owed_duties=[future]))
        with pytest.raises(CommandError, match="owed_duties"):
            bad = {"kind": "greeting", "due_at": owed_at.isoformat()}
            await COMMANDS["onboard"](c, None, client_body(cid, Tier.DIAMOND, owed_duties=[bad]))

        owed = [{"kind": "callback", "due_at": owed_at.isoformat()}]
        await COMMANDS["onboard"](c, None, client_body(cid, Tier.DIAMOND, owed_duties=owed))
        handle = client.get_workflow_handle(f"client-{cid}")
        view = await handle.query(ClientServiceWorkflow.view)
        (task,) = [t for t in view.open_tasks if ":owed-" in t.task_id]
        assert (task.kind.value, task.due_at) == ("callback", owed_at)
        assert view.next_service_due == owed_at  # the oldest open duty: the saved search's field

        # A re-submission does not owe it twice, nor anything new.
        again = [*owed, {"kind": "plan_review", "due_at": owed_at.isoformat()}]
        await COMMANDS["onboard"](c, None, client_body(cid, Tier.DIAMOND, owed_duties=again))
        for _ in range(50):  # the run loop escalates it on its first wake, without waiting
            rows = [r for r in tasks(db, cid, "callback") if ":owed-" in r.task_id]
            if rows and rows[0].status == "overdue":
                break
            await ts_env.sleep(1)
        assert [(r.due_at, r.status, r.escalated_to) for r in rows] == [
            (owed_at, "overdue", "supervision")
        ]
        assert all(":owed-" not in r.task_id for r in tasks(db, cid, "plan_review"))
        told = [n for n in outbox(db, cid, "supervisor") if n.template == "callback_overdue"]
        assert [n.params["task_id"] for n in told] == [rows[0].task_id]

        history = await handle.fetch_history()
        if os.environ.get("RECORD_CLIENT_HISTORIES") == "1":
            path = recording_dir() / "client_service_owed_callback.json"
            path.write_text(history.to_json())
        await Replayer(
            workflows=[ClientServiceWorkflow],
            data_converter=client.data_converter,
            namespace=client.namespace,  # the payloads are bound to it
        ).replay_workflow(history)
