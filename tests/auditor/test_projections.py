"""Rebuilding read models from histories: idempotent, equal to live, and tampering is found."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import ActivityTaskFailedEventAttributes, HistoryEvent
from temporalio.client import WorkflowHistory

from audit import sources
from audit.rebuild import RebuildError, history_writes, prepare_schema
from audit.verify import Cells, RecordingCipher, compare_table
from infra.keys import KeyRing
from projections.registry import PROJECTORS, Projector, apply_writes
from projections.tables import complaint_events, complaints
from tests.auditor.rig import SampleRig
from tests.auditor.sample import PROJECT, SampleSnapshot, sample_rows


def _snapshots() -> list[SampleSnapshot]:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2027, 3, 1, 9, tzinfo=UTC)
    stages = ["intake", "assessment", "investigation", "resolution", "closed"]
    return [
        SampleSnapshot(
            workflow_id=f"audit-{case}",
            seq=seq,
            case_id=case,
            client_id=f"cl-{case}",
            stage=stages[seq - 1],
            stage_from=stages[seq - 2] if seq > 1 else None,
            kind="advanced" if seq > 1 else "opened",
            actor=f"handler-{seq}",
            content=f"complaint text of {case}",
            received_at=t0,
            at=t0 + timedelta(hours=seq),
        )
        for case in ("a", "b", "c")
        for seq in range(1, 6)
    ]


def test_duplicated_and_reordered_deliveries_leave_the_same_rows(
    db: Engine, keyring: KeyRing
) -> None:
    cipher = RecordingCipher(keyring)
    snaps = _snapshots()
    with db.begin() as conn:  # the live tables: each delivery once, in order
        for snap in snaps:
            apply_writes(conn, sample_rows(snap, cipher))

    for seed in (1, 2, 3):
        deliveries = snaps * 2  # every delivery twice (retries), each sealed afresh
        random.Random(seed).shuffle(deliveries)
        seqs = [(s.case_id, s.seq) for s in deliveries]
        assert seqs != sorted(seqs)  # older events really do arrive after newer ones
        scoped = prepare_schema(db, "idempotency")
        with scoped.begin() as conn:
            for snap in deliveries:
                apply_writes(conn, sample_rows(snap, cipher))
        for table in (complaints, complaint_events):
            differences, live_rows = compare_table(db, table, "idempotency", Cells(cipher), ())
            assert differences == [] and live_rows == (3 if table is complaints else 15)


def test_verify_compares_sealed_values_by_what_they_hold(db: Engine, keyring: KeyRing) -> None:
    """The control for the test above: a reordering without `seq` wins would be caught."""
    cipher = RecordingCipher(keyring)
    first, last = _snapshots()[0], _snapshots()[4]
    with db.begin() as conn:
        apply_writes(conn, sample_rows(last, cipher))
    scoped = prepare_schema(db, "idempotency")
    with scoped.begin() as conn:
        apply_writes(conn, sample_rows(first, cipher))
    differences, _ = compare_table(db, complaints, "idempotency", Cells(cipher), ())
    assert [(d.kind, sorted(d.columns)) for d in differences] == [
        ("changed", ["seq", "stage", "updated_at"])
    ]


async def test_only_projections_that_did_not_fail_are_applied(
    ts_rig: SampleRig, keyring: KeyRing
) -> None:
    workflow_id = await ts_rig.lifecycle("p1", advances_per_run=10)
    [history] = await sources.chain(ts_rig.client, workflow_id)
    completed = [
        e for e in history.events if e.HasField("activity_task_completed_event_attributes")
    ]
    failed_id = completed[1].activity_task_completed_event_attributes.scheduled_event_id
    # The history as it would read had the second projection failed for good and the run
    # been cut short while the third was still in flight.
    failed = HistoryEvent(
        event_id=completed[1].event_id,
        event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
        activity_task_failed_event_attributes=ActivityTaskFailedEventAttributes(
            scheduled_event_id=failed_id
        ),
    )
    events = [failed if e is completed[1] else e for e in history.events if e is not completed[2]]
    cipher = RecordingCipher(keyring)
    writes, applied, skipped = await history_writes(
        WorkflowHistory(workflow_id, events),
        ts_rig.client.data_converter,
        cipher,
        {PROJECT: PROJECTORS[PROJECT]},
    )
    assert (applied, skipped) == (3, 1)
    seqs = [w.rows[0]["seq"] for w in writes if w.table is complaint_events]
    assert seqs == [1, 3, 4]


class _NowWithRegion(SampleSnapshot):
    region: str


async def test_an_input_the_current_model_rejects_is_named_without_its_data(
    ts_rig: SampleRig, keyring: KeyRing
) -> None:
    workflow_id = await ts_rig.lifecycle("p2", advances_per_run=10)
    [history] = await sources.chain(ts_rig.client, workflow_id)
    changed = {PROJECT: Projector(PROJECT, _NowWithRegion, sample_rows)}
    with pytest.raises(RebuildError) as failed:
        await history_writes(
            history, ts_rig.client.data_converter, RecordingCipher(keyring), changed
        )
    message = str(failed.value)
    assert workflow_id in message and "region: Field required" in message
    assert "confidential" not in message
