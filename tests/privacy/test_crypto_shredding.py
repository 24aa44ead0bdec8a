"""Crypto-shredding end to end on the dev server: a client onboarded with distinctive personal
data opens a complaint and is erased; afterwards neither the raw history bytes, nor the history
decrypted with the key ring, nor the read models, nor an export of the history, nor the codec
server's decode, nor the logs hold any of it; `auditor.py history` and the codec server show
`[erased]` where it was, with ids, stages, tiers and figures readable; `client show` shows the
erasure; replay and verify-projections still pass on the erased client's histories."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from google.protobuf import json_format
from sqlalchemy import Engine, select, text
from temporalio.testing import WorkflowEnvironment

import auditor
from activities.deps import ActivityDeps
from audit.payloads import decoded_history
from commands import clients, complaints
from commands.base import CommandContext
from commands.privacy import erase
from domain.enums import Tier
from domain.policy import Policy
from domain.sealed import ERASED, SEALED, tokens_in
from infra.codec_server import database_erased, make_app
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.tables import metadata, subject_keys
from tests.auditor.rig import point_at, ring_text
from tests.helpers.scan import decoded_values, quiet
from tests.helpers.sealing import opening_cipher
from tests.security.pii_scan import captured_logs, find_secrets, iter_payloads, scan_workflow
from tests.workflows.test_client_support import client_body, run_histories
from worker import build_worker

NAME = "Sima Yiwei"
PHONE = "13655501234"
EMAIL = "sima.yiwei@example.net"
ID_NUMBER = "32010219770305123X"
ADDRESS = "Qinhuai Lane 12, Nanjing"
COMPLAINT = "The adviser phoned me at midnight about a fund I never bought"
PAUSED_BECAUSE = "Sima Yiwei is abroad for chemotherapy until June"
SECRETS = [NAME, PHONE, EMAIL, ID_NUMBER, ADDRESS, COMPLAINT, PAUSED_BECAUSE]
TOKEN = "codec-test-token-" + "y" * 24
UI = "http://localhost:8233"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, pg_url: str, keyring: KeyRing) -> pytest.MonkeyPatch:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("CLIENT_CARE_KEYS", ring_text(keyring))
    monkeypatch.setenv("CLIENT_CARE_ACTOR", "dpo-under-test")
    return monkeypatch


async def test_an_erasure_shreds_the_client_wherever_their_data_went(
    dev_env: WorkflowEnvironment,
    db: Engine,
    keyring: KeyRing,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = dev_env.client
    queue = f"shred-{uuid.uuid4().hex[:8]}"
    client_id = f"shred-{uuid.uuid4().hex[:6]}"
    body = client_body(client_id, Tier.PLATINUM)
    body["basic"] |= {
        "name": NAME,
        "phone": PHONE,
        "email": EMAIL,
        "id_number": ID_NUMBER,
        "address": ADDRESS,
        "birth_date": "1977-03-05",
    }
    deps = ActivityDeps(engine=db, cipher=FieldCipher(keyring))
    with captured_logs() as logs, ThreadPoolExecutor(max_workers=8) as pool:
        async with build_worker(client, queue, deps, pool):
            ctx = CommandContext(client=client, policy=Policy(), task_queue=queue, engine=db)
            await clients.onboard(ctx, None, body)
            opened = await complaints.COMMANDS["open"](
                ctx,
                None,
                {
                    "client_id": client_id,
                    "channel": "email",
                    "content": COMPLAINT,
                    "complainant": {"name": NAME, "phone": PHONE, "email": EMAIL},
                },
            )
            cid = opened["complaint_id"]
            await complaints.COMMANDS["assess"](
                ctx,
                cid,
                {"category": "fees", "severity": "high", "department": "it", "handler": "s-9"},
            )
            # staff's free text about the client: sealed under the client's key
            await complaints.COMMANDS["investigate"](
                ctx, cid, {"findings": f"{NAME} confirmed the call", "evidence": [COMPLAINT]}
            )
            # why the service pauses: staff's words about the person, sealed under their key
            await clients.COMMANDS["pause"](ctx, client_id, {"reason": PAUSED_BECAUSE})
            before = await clients.show(ctx, client_id, {})
            assert before["file"]["basic"]["name"] == NAME, "readable while the key lives"
            assert before["status_reason"] == PAUSED_BECAUSE

            erased = await erase(ctx, client_id, {"requested_by": "dpo-01", "reason": "REQ-88"})
            assert erased["via"] == "workflow"
            # staff's free text about the client, after the erasure: not kept
            await complaints.COMMANDS["investigate"](
                ctx, cid, {"findings": f"Called {NAME} back on {PHONE}", "evidence": [EMAIL]}
            )
            query = f"TaskQueue='{queue}'"
            await quiet(client, query, 2)
            shown_after = await clients.show(ctx, client_id, {})

    workflows = (f"client-{client_id}", f"complaint-{cid}")
    with db.connect() as conn:
        key = conn.execute(select(subject_keys).where(subject_keys.c.subject_id == client_id))
        row = key.one()
    assert row.wrapped_dek is None and row.destroyed_at is not None, "the data key is gone"

    # 1. raw history bytes (payloads still ring-encrypted), description, ids
    findings = []
    for wid in workflows:
        findings += await scan_workflow(client, wid, SECRETS)
    # 2. the histories decrypted with the key ring, and exported as JSON (what `temporal
    #    workflow show --output json` would hand out)
    codec = client.data_converter.payload_codec
    assert codec is not None
    values: list[Any] = []
    raw_payloads = []
    for wid in workflows:
        for history in await run_histories(client, wid):
            for event in history.events:
                raw_payloads += [p for _, p in iter_payloads(event)]
            export = (await decoded_history(history, codec)).to_json()
            findings += find_secrets(export.encode(), SECRETS, f"export of {wid}")
            values += decoded_values(json.loads(export))
    assert values, "payloads were decoded"
    sealed = tokens_in(values)
    assert {t.field for t in sealed} >= {
        "name",
        "phone",
        "email",
        "content",
        "complainant.name",
        "complaint.findings",
        "complaint.evidence",
        "pause.reason",
    }
    # ... and the ring, with the database that held the key, opens none of them now
    opened = opening_cipher(db, keyring).reveal(values)
    assert tokens_in(opened) == [] and ERASED in json.dumps(opened)
    findings += find_secrets(json.dumps(opened).encode(), SECRETS, "opened with the ring")
    # 3. the read models, every table's bytes
    with db.connect() as conn:
        for table in metadata.sorted_tables:
            dump = conn.execute(text(f"SELECT t::text FROM {table.name} t")).scalars().all()
            findings += find_secrets("\n".join(dump).encode(), SECRETS, f"table {table.name}")
        tier = conn.execute(
            text("SELECT tier, aum FROM clients WHERE client_id = :c"), {"c": client_id}
        ).one()
    assert tier.tier == "platinum" and tier.aum is not None, "figures stay"

    # 4. the codec server's decode: `[erased]` in place, nothing personal
    app = make_app(keyring, TOKEN, UI, erased=database_erased(db))
    async with TestServer(app, host="127.0.0.1") as srv, aiohttp.ClientSession() as http:
        async with http.post(
            srv.make_url("/decode"),
            json={"payloads": [json_format.MessageToDict(p) for p in raw_payloads]},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as resp:
            assert resp.status == 200
            reply = await resp.read()
    findings += find_secrets(reply, SECRETS, "codec server decode")
    decoded = json.dumps(decoded_values(json.loads(reply)))
    assert ERASED in decoded and SEALED not in decoded and "pii:v1:" not in decoded
    assert find_secrets(decoded.encode(), SECRETS, "codec server values") == []
    # 5. the logs of the worker and the commands
    findings += find_secrets(logs.getvalue().encode(), SECRETS, "logs")
    assert logs.getvalue(), "the scenario logged something, so the scan saw real output"
    assert findings == [], findings

    # 6. auditor.py history: `[erased]` where the fields were; ids, stages, tiers readable
    point_at(cli_env, dev_env)
    for wid in workflows:
        assert await auditor.run(["history", wid, "--json", "--purpose", "erasure check"]) == 0
        out = capsys.readouterr().out
        assert find_secrets(out.encode(), SECRETS, f"auditor history {wid}") == []
        assert ERASED in out and "pii:v1:" not in out
        assert client_id in json.loads(out)["client_ids"]
    entries = json.loads(out)["entries"]
    assert any(cid in json.dumps(e) for e in entries), "ids stay readable"

    # 7. client show: the erasure, not the person
    assert shown_after["erased_at"] is not None
    assert shown_after["status_reason"] == ERASED
    assert find_secrets(json.dumps(shown_after).encode(), SECRETS, "client show") == []

    # 8. replay and verify-projections on the erased client's histories
    assert await auditor.run(["replay", "--query", query, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["replayed"] >= 2
    code = await auditor.run(["verify-projections", "--query", query, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["differences"]
