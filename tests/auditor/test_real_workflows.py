"""The auditor over the service's own workflows: a client onboarded and a complaint taken to
follow-up on the dev server, then replayed, shown and verified like any audit would."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, select, text
from temporalio.testing import WorkflowEnvironment

import auditor
from commands.base import CommandContext
from commands.clients import COMMANDS as CLIENT
from commands.complaints import COMMANDS as COMPLAINT
from commands.privacy import run_erase
from domain.policy import Policy
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.tables import complaints
from tests.auditor.rig import point_at
from tests.helpers.complaint_env import complaint_worker, intake
from tests.helpers.scan import quiet
from tests.helpers.sealing import rewrite_as_format1
from tests.workflows.test_client_support import client_body, client_worker

CLIENT_ID = "c-audit-1"


async def test_audit_of_the_real_workflows(
    dev_env: WorkflowEnvironment,
    db: Engine,
    keyring: KeyRing,
    policy: Policy,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(cli_env, dev_env)
    client = dev_env.client
    async with (
        client_worker(client, db, keyring, ends=[f"client-{CLIENT_ID}"]) as clients_queue,
        complaint_worker(client, db, keyring) as complaints_queue,
    ):
        care = CommandContext(client=client, policy=policy, task_queue=clients_queue)
        desk = CommandContext(client=client, policy=policy, task_queue=complaints_queue)
        await CLIENT["onboard"](care, None, client_body(CLIENT_ID))
        await CLIENT["pause"](care, CLIENT_ID, {"reason": "in hospital until March"})
        cid = (await COMPLAINT["open"](desk, None, intake(CLIENT_ID)))["complaint_id"]
        assessed = {"category": "fees", "severity": "medium", "department": "ops", "handler": "h-1"}
        await COMPLAINT["assess"](desk, cid, assessed)
        await COMPLAINT["investigate"](
            desk, cid, {"findings": "quoted v1", "root_cause": "disclosure_gap", "done": True}
        )
        due = (date.today() + timedelta(days=20)).isoformat()
        await COMPLAINT["resolve"](desk, cid, {"measures": "refund", "owner": "h-1", "due": due})

        query = f"TaskQueue='{clients_queue}' OR TaskQueue='{complaints_queue}'"
        await quiet(client, query, 2)
        with db.connect() as conn:
            stage = conn.execute(select(complaints.c.stage).where(complaints.c.complaint_id == cid))
            assert stage.scalar_one() == "follow_up"

        assert await auditor.run(["replay", "--query", query, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["replayed"] >= 2

        code = await auditor.run(["verify-projections", "--query", query, "--json"])
        report = json.loads(capsys.readouterr().out)
        assert code == 0, report["differences"]
        assert report["compared"]["clients"] == 1 and report["compared"]["complaints"] == 1
        assert report["compared"]["complaint_events"] >= 4

        # Rows as a release before column contexts wrote them (format 1) still verify; the
        # re-seal moves every one to the current format, and they verify again.
        cipher = FieldCipher(keyring)
        assert rewrite_as_format1(db, cipher) >= 5
        code = await auditor.run(["verify-projections", "--query", query, "--json"])
        report = json.loads(capsys.readouterr().out)
        assert code == 0 and report["compared"]["clients"] == 1, report["differences"]
        assert await auditor.run(["reseal-projections", "--json"]) == 0
        resealed = json.loads(capsys.readouterr().out)["columns"]
        assert all(c["current"] == 0 and c["unreadable"] == 0 for c in resealed.values())
        assert sum(c["resealed"] for c in resealed.values()) >= 5
        code = await auditor.run(["verify-projections", "--query", query, "--json"])
        assert code == 0, json.loads(capsys.readouterr().out)["differences"]
        capsys.readouterr()

        assert await auditor.run(["history", f"complaint-{cid}", "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert CLIENT_ID in shown["client_ids"]
        decided = [e for e in shown["entries"] if e["type"] == "WorkflowExecutionUpdateCompleted"]
        assert len(decided) >= 3  # assess, investigate, resolve: each a decision on record

        # the pause's reason, sealed under the client's key in the history, opened for the auditor
        assert await auditor.run(["history", f"client-{CLIENT_ID}", "--json"]) == 0
        timeline = capsys.readouterr().out
        assert "in hospital until March" in timeline and "pii:v1:" not in timeline

        # A PIPL erasure acts on the read models only: the rebuild must not bring the data back.
        run_erase(db, CLIENT_ID, {"requested_by": "dpo-1", "reason": "REQ-2027-001"})
        argv = ["rebuild-projections", "--query", query, "--schema", "erased", "--json"]
        assert await auditor.run(argv) == 0
        assert json.loads(capsys.readouterr().out)["erasures"] == 1
        with db.connect() as conn:
            rebuilt = conn.execute(text("SELECT name_enc, erased_at FROM erased.clients")).one()
            assert rebuilt.name_enc is None and rebuilt.erased_at is not None
            sealed = conn.execute(text("SELECT content_enc FROM erased.complaints")).scalar()
            assert sealed is None
        code = await auditor.run(["verify-projections", "--query", query, "--json"])
        assert code == 0, json.loads(capsys.readouterr().out)["differences"]

        await client.get_workflow_handle(f"complaint-{cid}").terminate("test over")
