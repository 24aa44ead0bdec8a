"""A saved history of the sealed shape: a client onboarded through the command layer (its file's
personal fields as tokens), updated and erased, replays with no data key at all."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from commands.clients import COMMANDS
from commands.privacy import erase
from domain.enums import Tier
from infra.keys import KeyRing
from infra.temporal import data_converter
from projections.subject_keys import PgSubjectKeys, Sealer
from tests.helpers.histories import recording_dir
from tests.privacy.test_crypto_shredding import _decoded_values
from tests.workflows.test_client_support import client_body, client_worker, ctx, private_clock
from workflows.client_service import ClientServiceWorkflow


@pytest.fixture(scope="module")
async def own_clock(keyring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    async with private_clock(keyring) as env:
        yield env


async def test_a_sealed_then_erased_client_history_replays(
    own_clock: WorkflowEnvironment, db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    plain_dc = dataclasses.replace(data_converter(keyring), payload_codec=None)
    plain = Client(
        own_clock.client.service_client,
        namespace=own_clock.client.namespace,
        data_converter=plain_dc,
    )
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
    values = json.dumps(_decoded_values(json.loads(text)))
    assert "pii:v1:c-sealed-erased:phone:" in values and "13911112222" not in values
    save = os.environ.get("RECORD_SEALED_HISTORIES") == "1"
    path = (recording_dir() if save else tmp_path) / "client_service_sealed_erased.json"
    path.write_text(text)
    replayer = Replayer(workflows=[ClientServiceWorkflow], data_converter=plain_dc)
    await replayer.replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()))
