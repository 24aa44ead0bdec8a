"""A saved history of the sealed shape: a client onboarded through the command layer (its file's
personal fields as tokens), updated and erased, replays with no data key at all."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from commands.clients import COMMANDS
from commands.privacy import erase
from domain.enums import Tier
from infra.keys import KeyRing
from projections.subject_keys import PgSubjectKeys, Sealer
from tests.helpers.histories import save_history, uncoded_client
from tests.helpers.scan import decoded_values
from tests.workflows.test_client_support import client_body, client_worker, ctx, private_clock
from workflows.client_service import ClientServiceWorkflow


@pytest.fixture(scope="module")
async def own_clock(keyring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    async with private_clock(keyring) as env:
        yield env


async def test_a_sealed_then_erased_client_history_replays(
    own_clock: WorkflowEnvironment, db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    plain = uncoded_client(own_clock.client, keyring)
    async with client_worker(plain, db, keyring, ends=["client-c-sealed-erased"]) as queue:
        c = dataclasses.replace(ctx(plain, queue), sealer=Sealer(PgSubjectKeys(db, keyring)))
        body = client_body("c-sealed-erased", Tier.GOLD, birth_date=date(1980, 4, 2))
        await COMMANDS["onboard"](c, None, body)
        await COMMANDS["update"](c, "c-sealed-erased", {"basic": {"phone": "13911112222"}})
        await erase(c, "c-sealed-erased", {"requested_by": "dpo-01", "reason": "REQ-S1"})
        handle = plain.get_workflow_handle("client-c-sealed-erased")
        await handle.result()
        history = await handle.fetch_history()
    text = history.to_json()
    values = json.dumps(decoded_values(json.loads(text)))
    assert "pii:v1:c-sealed-erased:phone:" in values and "13911112222" not in values
    path = save_history(
        text, "client_service_sealed_erased.json", "RECORD_SEALED_HISTORIES", tmp_path
    )
    replayer = Replayer(workflows=[ClientServiceWorkflow], data_converter=plain.data_converter)
    await replayer.replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()))
