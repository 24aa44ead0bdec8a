"""Replay: a client erased through its workflow, recorded, replays on the current code.

`tests/histories/2026-12/client_service_erased.json` was recorded before retention holds
(`LEGAL_HOLD`): the old side of that patch, an erasure that shreds at once with no marker. Every
run records a fresh one into a temporary folder (an erasure outside any hold: the marker, then
the same shredding) and replays it. To save one (rename it if the old side must stay):

    RECORD_ERASURE_HISTORIES=1 python -m pytest tests/workflows/test_erasure_histories.py
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
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
from tests.workflows.test_client_support import client_body, client_worker, ctx, private_clock
from workflows.client_service import ClientServiceWorkflow


@pytest.fixture(scope="module")
async def own_clock(keyring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    async with private_clock(keyring) as env:
        yield env


async def test_an_erased_client_history_replays(
    own_clock: WorkflowEnvironment, db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    plain = uncoded_client(own_clock.client, keyring)
    async with client_worker(plain, db, keyring, ends=["client-c-erased"]) as queue:
        c = dataclasses.replace(ctx(plain, queue), sealer=Sealer(PgSubjectKeys(db, keyring)))
        await COMMANDS["onboard"](c, None, client_body("c-erased", Tier.GOLD))
        answer = await erase(c, "c-erased", {"requested_by": "dpo-01", "reason": "REQ-H1"})
        assert answer["via"] == "workflow" and answer["erased_at"]
        handle = plain.get_workflow_handle("client-c-erased")
        await handle.result()
        history = await handle.fetch_history()
    path = save_history(
        history.to_json(), "client_service_erased.json", "RECORD_ERASURE_HISTORIES", tmp_path
    )
    replayer = Replayer(workflows=[ClientServiceWorkflow], data_converter=plain.data_converter)
    await replayer.replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()))
