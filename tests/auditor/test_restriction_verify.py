"""A restricted client (a deletion request under the AML hold) on the real dev server: the
live tables and `verify-projections` agree on it, its sealed columns stay stored, and an
offboarded client's request is kept by a run of its own that writes no row."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import Engine, select
from temporalio.testing import WorkflowEnvironment

import auditor
from commands.base import CommandContext
from commands.clients import COMMANDS as CLIENT
from commands.privacy import erase
from infra.keys import KeyRing
from projections.tables import clients
from tests.auditor.rig import point_at
from tests.helpers.scan import quiet
from tests.workflows.test_client_support import client_body, client_worker
from tests.workflows.test_legal_hold import BY, HELD


async def test_restricted_clients_verify(
    dev_env: WorkflowEnvironment,
    db: Engine,
    keyring: KeyRing,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(cli_env, dev_env)
    client = dev_env.client
    served, left = (f"c-rv{n}-{uuid.uuid4().hex[:6]}" for n in (1, 2))
    ends = [f"client-{served}", f"client-{left}"]
    async with client_worker(client, db, keyring, ends=ends) as queue:
        c = CommandContext(client=client, policy=HELD, task_queue=queue, engine=db)
        for cid in (served, left):
            await CLIENT["onboard"](c, None, client_body(cid, care=True))
        await CLIENT["offboard"](c, left, {"reason": "account closed"})
        await client.get_workflow_handle(f"client-{left}").result()
        for cid in (served, left):
            assert (await erase(c, cid, BY))["hold"] == "aml"

        query = f"TaskQueue='{queue}'"
        await quiet(client, query, 3)  # the served run, the ended run and the hold's run
        with db.connect() as conn:
            rows = {
                r.client_id: r
                for r in conn.execute(
                    select(clients).where(clients.c.client_id.in_([served, left]))
                )
            }
        assert all(r.profile_enc is not None and r.erased_at is None for r in rows.values())
        assert rows[served].do_not_contact and rows[served].status == "closed"

        code = await auditor.run(["verify-projections", "--query", query, "--json"])
        report = json.loads(capsys.readouterr().out)
        assert code == 0, report["differences"]
