"""`auditor.py history`: a decrypted, readable timeline, on record in the access log."""

from __future__ import annotations

import asyncio
import getpass
import json
import uuid

import pytest
from sqlalchemy import Engine, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio.testing import WorkflowEnvironment

import auditor
from audit import sources, timeline
from audit.payloads import REFUSED
from projections.access import AccessAction
from projections.tables import access_log
from tests.auditor.rig import SampleRig, point_at
from tests.auditor.sample import Advance, AuditSample

ACCOUNT = f"os:{getpass.getuser()}"  # recorded beside every claimed actor
SIGNALED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED


def _by_type(view: timeline.Timeline, kind: str) -> list[timeline.Entry]:
    return [e for e in view.entries if e.type == kind]


async def test_timeline_shows_who_asked_what_was_decided_and_the_timers(ts_rig: SampleRig) -> None:
    workflow_id = await ts_rig.lifecycle("t1")
    runs = await sources.chain(ts_rig.client, workflow_id)
    view = await timeline.build(runs, ts_rig.client.data_converter)

    assert view.runs == [r.run_id for r in runs] and len(view.runs) == 2
    assert view.client_ids == ["cl-t1"]
    identity = ts_rig.client.identity
    accepted = _by_type(view, "WorkflowExecutionUpdateAccepted")
    assert [(e.actor, e.identity) for e in accepted] == [("alice", identity), ("carol", identity)]
    decided = _by_type(view, "WorkflowExecutionUpdateCompleted")
    assert decided[0].headline == "update advance decided: intake -> assessment"
    [signal] = _by_type(view, "WorkflowExecutionSignaled")
    assert (signal.actor, signal.identity) == ("bob", identity)
    assert [e.headline for e in _by_type(view, "TimerFired")] == ["timer fired: cooling-off period"]
    # Payloads are decrypted: the sealed-at-rest complaint text is readable here.
    scheduled = _by_type(view, "ActivityTaskScheduled")
    assert [e.attributes["input"][0]["kind"] for e in scheduled] == [
        "opened",
        "advanced",
        "noted",
        "advanced",
    ]
    assert "confidential complaint text of t1" in scheduled[0].headline
    assert view.entries[-1].headline == "completed: closed"

    text = view.as_text()
    assert "WorkflowTaskStarted" not in text  # bookkeeping only with --verbose
    assert "WorkflowTaskStarted" in view.as_text(verbose=True)
    assert f"-- run {runs[1].run_id}" in text


async def test_cli_history_records_the_reader_before_showing(
    ts_env: WorkflowEnvironment,
    ts_rig: SampleRig,
    cli_env: pytest.MonkeyPatch,
    db: Engine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(cli_env, ts_env)
    workflow_id = await ts_rig.lifecycle("t2")

    argv = ["history", workflow_id, "--actor", "inspector-li", "--purpose", "case review"]
    assert await auditor.run([*argv, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["workflow_id"] == workflow_id and shown["client_ids"] == ["cl-t2"]

    with db.connect() as conn:
        rows = conn.execute(select(access_log)).mappings().all()
    assert [
        (r["actor"], r["action"], r["client_id"], r["workflow_id"], r["purpose"]) for r in rows
    ] == [
        (
            f"inspector-li|{ACCOUNT}",
            AccessAction.HISTORY_DECRYPT,
            "cl-t2",
            workflow_id,
            "case review",
        )
    ]

    assert await auditor.run(["history", workflow_id]) == 0  # actor from CLIENT_CARE_ACTOR
    assert "update advance decided" in capsys.readouterr().out
    with db.connect() as conn:
        actors = conn.execute(select(access_log.c.actor).order_by(access_log.c.id)).scalars().all()
    assert actors == [f"inspector-li|{ACCOUNT}", f"auditor-under-test|{ACCOUNT}"]


async def test_cli_history_shows_nothing_when_the_reading_cannot_be_recorded(
    ts_env: WorkflowEnvironment,
    ts_rig: SampleRig,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(cli_env, ts_env)
    workflow_id = await ts_rig.lifecycle("t3", advances_per_run=10)
    cli_env.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")

    assert await auditor.run(["history", workflow_id]) == auditor.EXIT_ERROR
    out, err = capsys.readouterr()
    assert out == "" and "history" in err


async def test_cli_history_reports_a_payload_moved_in_from_another_workflow(
    ts_env: WorkflowEnvironment,
    ts_rig: SampleRig,
    cli_env: pytest.MonkeyPatch,
    db: Engine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(cli_env, ts_env)
    client = ts_rig.client
    source = await ts_rig.lifecycle("t6")
    # an open workflow past its first task (an update answered), with no query to wait on
    opened = await ts_rig.start("t7")
    await opened.execute_update(AuditSample.advance, Advance(actor="alice", stage="assessment"))
    target = opened.id
    source_events = [e for run in await sources.chain(client, source) for e in run.events]
    [signal] = [e for e in source_events if e.event_type == SIGNALED]
    moved = signal.workflow_execution_signaled_event_attributes
    # bob's note of t6, replayed raw into t7 by anyone who can signal in the namespace
    await client.workflow_service.signal_workflow_execution(
        SignalWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=target),
            signal_name=moved.signal_name,
            input=moved.input,
            identity="transplant-test",
            request_id=str(uuid.uuid4()),
        )
    )
    for _ in range(100):  # buffered while a workflow task is in flight
        target_events = (await client.get_workflow_handle(target).fetch_history()).events
        signals = [e.event_id for e in target_events if e.event_type == SIGNALED]
        if signals:
            break
        await asyncio.sleep(0.1)
    [moved_in] = signals

    assert await auditor.run(["history", target, "--json"]) == auditor.EXIT_FINDINGS
    out = capsys.readouterr().out  # logging is unconfigured here: its warnings are on stdout
    shown, _ = json.JSONDecoder().raw_decode(out[out.index("{") :])
    [refusal] = shown["refused"]
    assert refusal["event_id"] == moved_in
    assert f"bound to workflow {source!r}" in refusal["message"]
    [entry] = [
        e for e in shown["entries"] if (e["run_id"], e["event_id"]) == (refusal["run_id"], moved_in)
    ]
    assert entry["attributes"]["input"] == [REFUSED]
    # its own update, earlier in the same history, still reads
    [own] = [e for e in shown["entries"] if e["type"] == "WorkflowExecutionUpdateAccepted"]
    assert own["actor"] == "alice"
    assert await auditor.run(["history", target]) == auditor.EXIT_FINDINGS
    assert "REFUSED: run " in capsys.readouterr().out
    assert await auditor.run(["history", source]) == 0  # the payload's own workflow is clean
    await client.get_workflow_handle(target).terminate("test: the moved signal wedges it")
