"""A client's personal fields are sealed under the client's own key before they enter the
workflow: the decrypted history (inputs, updates, continue-as-new state, activity inputs) and the
read models opened with the ring alone hold tokens, never the plaintext; a bad value is refused
by the command before it reaches the history; the people who may read the file see it whole."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from temporalio.testing import WorkflowEnvironment

from audit.payloads import decoded_history
from commands.base import CommandError
from commands.clients import COMMANDS
from domain.enums import Tier
from domain.sealed import tokens_in
from infra.keys import KeyRing
from projections.crypto import FieldCipher, column_context
from projections.tables import clients
from simulation.year import sleep_until
from tests.helpers.scan import decoded_values
from tests.security.pii_scan import find_secrets
from tests.workflows.test_client_commands_safety import short_runs
from tests.workflows.test_client_support import (
    client_body,
    client_worker,
    ctx,
    private_clock,
    run_histories,
)
from workflows.client_service.models import PauseService
from workflows.client_service.workflow import ClientServiceWorkflow

NAME = "Zhuge Kongming"
PHONE = "13987654321"
NEW_PHONE = "13711112222"
EMAIL = "kongming.zhuge@example.org"
ID_NUMBER = "51010419810723001X"
ADDRESS = "Wolong Ridge 7, Nanyang"
BIRTH = "1981-07-23"
NOTE = "Says her son Kongming Jr starts university in Chengdu next autumn"
PAUSED_BECAUSE = "Kongming is in Huaxi hospital until March"
OFFBOARDED_BECAUSE = "Kongming moved to Chengdu to care for his mother"
SECRETS = [NAME, PHONE, NEW_PHONE, EMAIL, ID_NUMBER, ADDRESS, BIRTH, NOTE]
SECRETS += [PAUSED_BECAUSE, OFFBOARDED_BECAUSE]


@pytest.fixture(scope="module")
async def own_clock(keyring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    async with private_clock(keyring) as env:
        yield env


async def decrypted_runs(env: WorkflowEnvironment, workflow_id: str) -> list[dict[str, object]]:
    """Every run's history with its payloads decrypted by the key ring, as JSON."""
    codec = env.client.data_converter.payload_codec
    assert codec is not None
    out = []
    for history in await run_histories(env.client, workflow_id):
        plain = await decoded_history(history, codec)
        out.append(json.loads(plain.to_json()))
    return out


async def test_the_client_file_travels_sealed_and_reads_whole(
    own_clock: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    client_id = "c-sealed"
    body = client_body(client_id, Tier.DIAMOND)
    body["basic"] |= {
        "name": NAME,
        "phone": PHONE,
        "email": EMAIL,
        "id_number": ID_NUMBER,
        "address": ADDRESS,
        "birth_date": BIRTH,
    }
    async with client_worker(own_clock.client, db, keyring, ends=[f"client-{client_id}"]) as q:
        c = ctx(own_clock.client, q, short_runs(1))
        await COMMANDS["onboard"](c, None, body)
        # a bad phone is refused by the command, naming the field, before it is sealed or sent
        with pytest.raises(CommandError) as refused:
            await COMMANDS["update"](c, client_id, {"basic": {"phone": "12345"}})
        assert "basic.phone" in refused.value.message and "12345" not in refused.value.message
        updated = await COMMANDS["update"](c, client_id, {"basic": {"phone": NEW_PHONE}})
        assert updated["file"]["basic"]["phone"] == f"+86{NEW_PHONE}"
        # past a continue-as-new: the state it carries is sealed too
        start = await own_clock.get_current_time()
        await sleep_until(own_clock, start + timedelta(days=40))
        # the monthly callback is open: the client's own words are sealed, the score is not
        done = await COMMANDS["callback"](
            c, client_id, {"satisfaction": 4, "life_situation": NOTE, "new_needs": NOTE}
        )
        assert done["kind"] == "callback"
        # why the service pauses and ends: staff's words about the person, sealed likewise
        paused = await COMMANDS["pause"](c, client_id, {"reason": PAUSED_BECAUSE})
        assert (paused["status"], paused["status_reason"]) == ("paused", PAUSED_BECAUSE)
        shown = await COMMANDS["show"](c, client_id, {})
        assert shown["status_reason"] == PAUSED_BECAUSE
        resumed = await COMMANDS["resume"](c, client_id, {})
        assert (resumed["status"], resumed["status_reason"]) == ("active", None)
        ended = await COMMANDS["offboard"](c, client_id, {"reason": OFFBOARDED_BECAUSE})
        assert (ended["status"], ended["status_reason"]) == ("closed", OFFBOARDED_BECAUSE)
        runs = await decrypted_runs(own_clock, f"client-{client_id}")
    assert len(runs) >= 2, "the chain continued as new"

    # the people who may read the file see it whole, the birthday's year included
    basic = shown["file"]["basic"]
    assert (basic["name"], basic["phone"], basic["email"]) == (NAME, f"+86{NEW_PHONE}", EMAIL)
    assert (basic["id_number"], basic["address"], basic["birth_date"]) == (
        ID_NUMBER,
        ADDRESS,
        BIRTH,
    )

    # the decrypted history: every payload (start input, updates, continue-as-new input,
    # activity inputs and results, query-free) holds tokens where the person was
    decrypted = json.dumps(runs, ensure_ascii=False).encode()
    values = [v for run in runs for v in decoded_values(run)]
    assert values, "the history's payloads were decoded"
    assert find_secrets(json.dumps(values, ensure_ascii=False).encode(), SECRETS, "payloads") == []
    assert find_secrets(decrypted, SECRETS, "decrypted history") == []
    fields = {t.field for t in tokens_in(values)}
    assert {"name", "phone", "email", "id_number", "address", "birth_date"} <= fields
    assert {"callback.life_situation", "callback.new_needs"} <= fields
    assert {"pause.reason", "offboard.reason"} <= fields
    assert '"satisfaction": 4' in json.dumps(values), "figures stay readable"
    assert {t.subject for t in tokens_in(values)} == {client_id}
    assert '"birth_month_day": "07-23"' in json.dumps(values), "the greetings' month and day"

    # the read models opened with the key ring alone: tokens, no plaintext
    with db.connect() as conn:
        row = conn.execute(select(clients).where(clients.c.client_id == client_id)).one()
    ring_only = FieldCipher(keyring)
    profile = ring_only.open(
        row.profile_enc, context=column_context("clients", "profile_enc", client_id)
    )
    name = ring_only.open(row.name_enc, context=column_context("clients", "name_enc", client_id))
    assert find_secrets(json.dumps([profile, name]).encode(), SECRETS, "read model") == []
    assert row.phone_hash == ring_only.blind(f"+86{NEW_PHONE}"), "lookups still work"
    assert row.birth_month_day == "07-23"


async def test_a_reason_given_before_sealing_still_shows(
    own_clock: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    """A pause sent as runs recorded before sealing hold it (the reason in plain text, not
    through the command layer) is kept and shown as it was given."""
    client_id = "c-plain-reason"
    async with client_worker(own_clock.client, db, keyring, ends=[f"client-{client_id}"]) as q:
        c = ctx(own_clock.client, q, short_runs(30))
        await COMMANDS["onboard"](c, None, client_body(client_id, Tier.GOLD))
        handle = own_clock.client.get_workflow_handle(f"client-{client_id}")
        await handle.execute_update(
            ClientServiceWorkflow.pause, PauseService(reason="abroad until March")
        )
        shown = await COMMANDS["show"](c, client_id, {})
    assert (shown["status"], shown["status_reason"]) == ("paused", "abroad until March")
