"""A whole scenario on the real workflows leaves a test client's personal data nowhere in plain:
not in any history (payloads, failures, metadata, search attributes, ids), not in the logs, not
in the read models' bytes."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, text
from temporalio.testing import WorkflowEnvironment

from activities.deps import ActivityDeps
from commands import clients, complaints
from commands.base import CommandContext, CommandError
from domain.enums import Tier
from domain.policy import Policy
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.tables import metadata
from tests.helpers.sealing import opening_cipher
from tests.security.pii_scan import captured_logs, find_secrets, scan_workflow
from tests.workflows.test_client_support import client_body
from worker import build_worker
from workflows.client_service.models import ClientView

NAME = "Ouyang Xiaofeng"
PHONE = "13912345678"
EMAIL = "ouyang.xf@example.com"
ID_NUMBER = "11010519491231002X"
SECRETS = [NAME, PHONE, EMAIL, ID_NUMBER]


async def test_no_personal_data_in_plain_anywhere(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    client = dev_env.client
    queue = f"pii-{uuid.uuid4().hex[:8]}"
    client_id = f"pii-{uuid.uuid4().hex[:6]}"
    body = client_body(client_id, Tier.PLATINUM)
    body["basic"] |= {"name": NAME, "phone": PHONE, "email": EMAIL, "id_number": ID_NUMBER}
    deps = ActivityDeps(engine=db, cipher=FieldCipher(keyring))
    with captured_logs() as logs, ThreadPoolExecutor(max_workers=8) as pool:
        async with build_worker(client, queue, deps, pool):
            ctx = CommandContext(client=client, policy=Policy(), task_queue=queue, engine=db)
            await clients.onboard(ctx, None, body)
            await clients.COMMANDS["update"](ctx, client_id, {"basic": body["basic"]})
            opened = await complaints.COMMANDS["open"](
                ctx,
                None,
                {
                    "client_id": client_id,
                    "channel": "email",
                    "content": f"My adviser called {PHONE} at night; write to {EMAIL}",
                    "complainant": {"name": NAME, "phone": PHONE, "email": EMAIL},
                },
            )
            cid = opened["complaint_id"]
            await complaints.COMMANDS["assess"](
                ctx,
                cid,
                {"category": "privacy", "severity": "high", "department": "it", "handler": "s-9"},
            )
            bad = {"findings": f"Caller {NAME} ({ID_NUMBER})", "root_cause": "no such cause"}
            try:  # a refusal must not echo what it refused
                await complaints.COMMANDS["investigate"](ctx, cid, bad)
            except CommandError as err:
                assert not find_secrets(err.message.encode(), SECRETS, "error message")
            await complaints.COMMANDS["investigate"](
                ctx, cid, {"findings": f"Caller {NAME} confirmed", "done": True}
            )
            await clients.COMMANDS["offboard"](ctx, client_id, {})

    findings = []
    for workflow_id in (f"client-{client_id}", f"complaint-{cid}"):
        findings += await scan_workflow(client, workflow_id, SECRETS)
    findings += find_secrets(logs.getvalue().encode(), SECRETS, "logs")
    with db.connect() as conn:
        for table in metadata.sorted_tables:
            dump = conn.execute(text(f"SELECT t::text FROM {table.name} t")).scalars().all()
            findings += find_secrets("\n".join(dump).encode(), SECRETS, f"table {table.name}")
    assert findings == [], findings
    # ... though the history does hold it, encrypted, and sealed under the client's own key
    # inside that: the decrypted result carries the file's tokens, which that key opens.
    result = await client.get_workflow_handle(
        f"client-{client_id}", result_type=ClientView
    ).result()
    assert result.file.basic.name.startswith(f"pii:v1:{client_id}:name:")
    file = opening_cipher(db, keyring).reveal(result.file.model_dump(mode="json"))
    assert file["basic"]["name"] == NAME and file["basic"]["id_number"] == ID_NUMBER
    assert logs.getvalue(), "the scenario logged something, so the log scan saw real output"
