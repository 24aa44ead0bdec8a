"""The access record: one row per read of personal data, written before the read happens."""

from __future__ import annotations

import getpass

import pytest
from sqlalchemy import Engine, select

from projections.access import (
    AccessAction,
    AccessLogError,
    access_recorded,
    current_actor,
    record_access,
)
from projections.tables import access_log


def _rows(engine: Engine) -> list:
    with engine.connect() as conn:
        return list(conn.execute(select(access_log).order_by(access_log.c.id)))


def test_record_access_writes_one_row_in_the_callers_transaction(db: Engine) -> None:
    with db.begin() as conn:
        record_access(
            conn,
            "auditor:li",
            AccessAction.HISTORY_DECRYPT,
            client_id="C-1",
            workflow_id="client-C-1",
            purpose="complaint review CP-9",
        )
    [row] = _rows(db)
    assert (row.actor, row.action, row.client_id, row.workflow_id, row.purpose) == (
        "auditor:li",
        "history-decrypt",
        "C-1",
        "client-C-1",
        "complaint review CP-9",
    )
    assert row.at.tzinfo is not None

    with pytest.raises(RuntimeError), db.begin() as conn:
        record_access(conn, "auditor:li", AccessAction.PROFILE_READ, client_id="C-2")
        raise RuntimeError("the caller's transaction rolls back, and the row with it")
    assert len(_rows(db)) == 1


def test_purpose_is_masked_and_cut_identifiers_are_refused(db: Engine) -> None:
    with db.begin() as conn:
        record_access(conn, "a", "erase", purpose="asked by 13812345678 " + "x" * 300)
    [row] = _rows(db)
    assert "13812345678" not in row.purpose and row.purpose.startswith("asked by <phone>")
    assert len(row.purpose) == 128 and row.purpose.endswith("…")
    with db.begin() as conn:
        with pytest.raises(AccessLogError, match="actor is required"):
            record_access(conn, " ", "erase")
        with pytest.raises(AccessLogError, match="action is longer than 32"):
            record_access(conn, "a", "x" * 33)
        with pytest.raises(AccessLogError, match="client_id is longer than 64"):
            record_access(conn, "a", "erase", client_id="C" * 65)


def test_access_recorded_commits_before_the_body_and_keeps_the_row_on_failure(
    db: Engine,
) -> None:
    with access_recorded(db, "auditor:li", AccessAction.HISTORY_DECRYPT, workflow_id="wf-1"):
        # already committed: another connection sees it while the body runs
        assert [r.workflow_id for r in _rows(db)] == ["wf-1"]
    with (
        pytest.raises(ValueError),
        access_recorded(db, "auditor:li", AccessAction.HISTORY_DECRYPT, workflow_id="wf-2"),
    ):
        raise ValueError("decryption failed half-way")
    assert [r.workflow_id for r in _rows(db)] == ["wf-1", "wf-2"]


def test_nothing_is_read_when_the_access_cannot_be_recorded(db: Engine) -> None:
    body_ran = False
    with pytest.raises(AccessLogError):
        with access_recorded(db, "", AccessAction.HISTORY_DECRYPT):
            body_ran = True
    assert not body_ran
    assert _rows(db) == []


def test_current_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIENT_CARE_ACTOR", "staff:S-1024")
    account = f"os:{getpass.getuser()}"
    assert current_actor() == f"staff:S-1024|{account}"  # the claim, and who ran the tool
    assert current_actor("inspector-li") == f"inspector-li|{account}"
    monkeypatch.delenv("CLIENT_CARE_ACTOR")
    assert current_actor() == account


@pytest.mark.parametrize(
    "claim", ["Li Wei", "13800138000", "staff S-1024", "李伟", "x" * 41, "-lead", "a;drop"]
)
def test_an_actor_is_a_staff_reference_not_free_text(claim: str) -> None:
    with pytest.raises(AccessLogError, match="staff reference"):
        current_actor(claim)
