"""Today's workflow code replays yesterday's histories: a change that would break the complaints
already running (non-determinism) fails here, before it reaches a worker.

The saved histories are stored decrypted (see `tests/helpers/complaint_env.py`) and replay through
the production converter without its codec; regenerate them with `RECORD_COMPLAINT_HISTORIES=1`.
"""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.complaints import ComplaintProjection
from commands.complaints import COMMANDS
from domain.policy import Policy
from infra.codec import ENCODING
from infra.keys import KeyRing
from infra.temporal import data_converter
from tests.helpers.complaint_env import (
    WORKFLOWS,
    complaint_context,
    intake,
    local_today,
    plain_converter,
)
from tests.helpers.histories import all_saved, label

SAVED = {label(p): p.read_text() for p in all_saved("complaint_*.json")}


def replayer(converter: DataConverter, namespace: str = "default") -> Replayer:
    # the test servers' namespace, which fresh histories' payloads are bound to
    return Replayer(workflows=WORKFLOWS, data_converter=converter, namespace=namespace)


def test_histories_are_saved() -> None:
    assert {name.split("/")[1] for name in SAVED} >= {
        "complaint_happy_path",
        "complaint_reopened",
        "complaint_breached",
        "complaint_extended",
        "complaint_withdrawn",
        "complaint_merged",
        "complaint_matter_registry",
        "complaint_matter_owner",
        "complaint_matter_registry_v2",
        "complaint_matter_registry_ended",
    }


@pytest.mark.parametrize("name", SAVED)
async def test_saved_history_replays(name: str) -> None:
    history = WorkflowHistory.from_json(name, SAVED[name])
    result = await replayer(plain_converter()).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is None, f"{name}: {result.replay_failure}"


def test_saved_histories_need_no_key() -> None:
    encrypted = base64.b64encode(ENCODING).decode()
    assert [name for name, text in SAVED.items() if encrypted in text] == []


async def test_a_fresh_history_replays(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, policy: Policy
) -> None:
    """Every timer kind and most commands in one run, replayed at once."""
    async with complaint_context(ts_env.client, db, keyring, policy) as ctx:
        opened = await COMMANDS["open"](ctx, None, intake("c-1818", matter="acct-1"))
        cid = opened["complaint_id"]
        await ts_env.sleep(timedelta(days=3))  # assessment overdue
        assess = {"category": "privacy", "severity": "high", "department": "dpo", "handler": "h-4"}
        await COMMANDS["assess"](ctx, cid, assess)
        await COMMANDS["reassign"](ctx, cid, {"handler": "h-5"})
        await ts_env.sleep(timedelta(days=14))  # warning, then breach
        await COMMANDS["investigate"](ctx, cid, {"findings": "leak via CC", "done": True})
        due = (await local_today(ctx, cid)).isoformat()
        await COMMANDS["resolve"](ctx, cid, {"measures": "apology", "owner": "h-5", "due": due})
        await ts_env.sleep(timedelta(days=15))  # reminders, then no response
        handle = ctx.client.get_workflow_handle(opened["workflow_id"])
        history = await handle.fetch_history()
    converter = data_converter(keyring)
    kinds = [e["kind"] for e in (await _timeline(history, converter))]
    assert {"assessment_overdue", "deadline_warning", "sla_breached", "survey_expired"} <= set(
        kinds
    )
    await replayer(converter, ts_env.client.namespace).replay_workflow(history)


async def _timeline(history: WorkflowHistory, converter: DataConverter) -> list[dict[str, object]]:
    """The recorded events, read back from the projection activities' inputs in the history."""
    out: list[dict[str, object]] = []
    for event in history.events:
        if not event.HasField("activity_task_scheduled_event_attributes"):
            continue
        attrs = event.activity_task_scheduled_event_attributes
        if attrs.activity_type.name != "project_complaint":
            continue
        [projection] = await converter.decode(attrs.input.payloads, [ComplaintProjection])
        out.append(projection.event.model_dump())
    return out
