"""`rebuild-projections` and `verify-projections` end to end on the dev server (visibility)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, insert, select, text, update
from temporalio.testing import WorkflowEnvironment

import auditor
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.tables import complaint_events, complaints, notifications
from tests.auditor.rig import SampleRig, point_at


async def _scenario(rig: SampleRig) -> dict[str, str]:
    """Closed after two runs; open in its first run; open in its second run."""
    cases = {
        "closed": await rig.lifecycle("v-closed"),
        "open": await rig.lifecycle("v-open", close=False, advances_per_run=10),
        "continued": await rig.lifecycle("v-continued", close=False),
    }
    await rig.listed(5)
    return cases


async def _verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = await auditor.run(["verify-projections", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
async def scenario(
    own_namespace_rig: SampleRig, cli_env: pytest.MonkeyPatch
) -> tuple[SampleRig, dict[str, str]]:
    point_at(cli_env, own_namespace_rig)
    return own_namespace_rig, await _scenario(own_namespace_rig)


async def test_rebuild_equals_live_and_tampering_is_listed(
    scenario: tuple[SampleRig, dict[str, str]],
    db: Engine,
    keyring: KeyRing,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, cases = scenario
    code, report = await _verify(capsys)
    assert code == 0, report["differences"]
    assert report["rebuild"]["runs"] == 5
    assert report["compared"]["complaints"] == 3
    assert report["compared"]["complaint_events"] == 4 + 3 + 3
    assert "access_log" in report["unverified"]  # this very run is on record, not compared

    with db.begin() as conn:
        conn.execute(
            update(complaints)
            .where(complaints.c.complaint_id == "v-open")
            .values(
                stage="withdrawn",
                # Sealed properly for its cell, but not what the histories say it holds.
                content_enc=FieldCipher(keyring).seal("rewritten", context="complaint:v-open"),
            )
        )
        conn.execute(
            delete(complaint_events).where(
                complaint_events.c.workflow_id == cases["closed"], complaint_events.c.seq == 2
            )
        )
        conn.execute(
            insert(complaint_events).values(
                workflow_id=cases["open"],
                seq=99,
                complaint_id="v-open",
                kind="forged",
                at=func.now(),
            )
        )
        # Ciphertext moved between rows: each still opens under the key, not in its new cell.
        blobs = dict(
            conn.execute(select(complaints.c.complaint_id, complaints.c.content_enc)).all()
        )
        for mine, theirs in (("v-closed", "v-continued"), ("v-continued", "v-closed")):
            conn.execute(
                update(complaints)
                .where(complaints.c.complaint_id == mine)
                .values(content_enc=blobs[theirs])
            )

    code, report = await _verify(capsys)
    assert code == auditor.EXIT_FINDINGS
    found = {
        (d["table"], tuple(d["key"].values()), d["kind"], tuple(d["columns"]))
        for d in report["differences"]
    }
    assert found == {
        ("complaints", ("v-open",), "changed", ("stage", "content_enc")),
        ("complaints", ("v-closed",), "changed", ("content_enc",)),
        ("complaints", ("v-continued",), "changed", ("content_enc",)),
        ("complaint_events", (cases["closed"], 2), "missing", ()),
        ("complaint_events", (cases["open"], 99), "extra", ()),
    }
    assert "confidential" not in json.dumps(report) and "rewritten" not in json.dumps(
        report
    )  # sealed values are compared, never shown

    # The readable form names each difference as well.
    assert await auditor.run(["verify-projections"]) == auditor.EXIT_FINDINGS
    lines = capsys.readouterr().out.splitlines()
    assert (
        "complaints [complaint_id=v-open]: changed stage: live='withdrawn' rebuilt='assessment'; "
        "content_enc: live='<sealed>' rebuilt='<sealed, a different value>'" in lines
    )
    assert lines[-1].endswith("5 difference(s)")


async def test_rebuild_into_live_recovers_lost_tables(
    scenario: tuple[SampleRig, dict[str, str]], db: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    with db.begin() as conn:
        conn.execute(
            insert(notifications).values(
                notification_id="n-1",
                workflow_id="w",
                recipient_kind="client",
                channel="sms",
                purpose="service",
                template="t",
                status="sent",
                created_at=func.now(),
            )
        )
        conn.execute(text("TRUNCATE complaints, complaint_events"))  # the disaster

    argv = ["rebuild-projections", "--json"]
    assert await auditor.run([*argv, "--schema", "rebuild_test"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["runs"], report["projections"], report["skipped"]) == (5, 10, 0)
    with db.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM rebuild_test.complaint_events")).scalar() == 10
        )
        assert conn.execute(select(func.count()).select_from(complaints)).scalar() == 0

    assert await auditor.run([*argv, "--into-live"]) == 0
    assert json.loads(capsys.readouterr().out)["live"]["complaint_events"] == 10
    code, verified = await _verify(capsys)
    assert code == 0, verified["differences"]
    with db.connect() as conn:  # not a read model of the histories: left alone
        assert conn.execute(select(notifications.c.notification_id)).scalars().all() == ["n-1"]


async def test_rebuild_into_live_refuses_a_subset_of_histories(
    cli_env: pytest.MonkeyPatch, db: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["rebuild-projections", "--into-live", "--query", "WorkflowType='AuditSample'"]
    assert await auditor.run(argv) == auditor.EXIT_ERROR
    assert "--into-live" in capsys.readouterr().err


@pytest.mark.parametrize("schema", ["public", "Bad-Name", "pg_temp"])
async def test_rebuild_refuses_a_schema_it_must_not_replace(
    dev_env: WorkflowEnvironment,
    cli_env: pytest.MonkeyPatch,
    db: Engine,
    schema: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(cli_env, dev_env)
    assert await auditor.run(["rebuild-projections", "--schema", schema]) == auditor.EXIT_ERROR
    assert schema in capsys.readouterr().err
    with db.connect() as conn:  # nothing was dropped
        assert conn.execute(text("SELECT to_regclass('public.complaints')")).scalar() is not None


async def test_rebuild_refuses_a_schema_holding_other_tables(
    dev_env: WorkflowEnvironment,
    cli_env: pytest.MonkeyPatch,
    db: Engine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(cli_env, dev_env)
    with db.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS reports CASCADE; CREATE SCHEMA reports"))
        conn.execute(text("CREATE TABLE reports.quarterly (id int)"))
    assert await auditor.run(["rebuild-projections", "--schema", "reports"]) == auditor.EXIT_ERROR
    assert "quarterly" in capsys.readouterr().err
    with db.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('reports.quarterly')")).scalar() is not None
