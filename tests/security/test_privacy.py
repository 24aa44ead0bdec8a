"""PIPL deletion: personal columns go, audit facts stay, the erasure itself is on record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.deps import ActivityDeps
from activities.notifications import NotificationActivities, NotifyRequest
from activities.privacy import (
    EraseRequest,
    PrivacyActivities,
    UnknownClientError,
    erase_personal_data,
)
from commands.base import CommandContext, CommandError
from commands.privacy import erase, run_erase
from domain.consent import Purpose
from domain.policy import Policy
from projections.crypto import FieldCipher
from projections.tables import (
    access_log,
    clients,
    complaint_events,
    complaints,
    service_tasks,
    tier_changes,
)

NOW = datetime(2027, 3, 1, tzinfo=UTC)
REQUEST = EraseRequest(client_id="C-1", requested_by="S-1024", reason="PIPL request R-77")


def _history(engine: Engine, cipher: FieldCipher, client_id: str) -> None:
    """A complaint with two events, a callback with an outcome, a tier change."""
    complaint_id = f"CP-{client_id}"
    sealed = f"complaint:{complaint_id}"
    with engine.begin() as conn:
        conn.execute(
            complaints.insert().values(
                complaint_id=complaint_id, workflow_id=f"complaint-{complaint_id}", seq=3,
                client_id=client_id, channel="hotline", stage="closed", severity="high",
                received_at=NOW, closed_at=NOW + timedelta(days=9), satisfaction=4,
                content_enc=cipher.seal("理财经理未告知风险", context=sealed),
                complainant_enc=cipher.seal({"name": "王小明"}, context=sealed),
                updated_at=NOW,
            )
        )  # fmt: skip
        conn.execute(
            complaint_events.insert(),
            [
                {"workflow_id": f"complaint-{complaint_id}", "seq": seq,
                 "complaint_id": complaint_id, "kind": kind, "stage_to": stage, "at": NOW,
                 "data": {"severity": "high"}, "detail_enc": cipher.seal("detail", context="e")}
                for seq, kind, stage in ((1, "opened", "intake"), (2, "assessed", "investigation"))
            ],
        )  # fmt: skip
        conn.execute(
            service_tasks.insert().values(
                task_id=f"client-{client_id}:callback:2027-02-01",
                workflow_id=f"client-{client_id}", seq=5, client_id=client_id, kind="callback",
                due_at=NOW, status="done", outcome={"satisfaction": 5},
                outcome_enc=cipher.seal("说想买房", context="t"), updated_at=NOW,
            )
        )  # fmt: skip
        conn.execute(
            tier_changes.insert().values(
                client_id=client_id, review_id="2027Q1", old_tier="silver", new_tier="gold",
                reason="aum up", figures={"aum": 820000}, at=NOW,
            )
        )  # fmt: skip


def _one(engine: Engine, table: Any, **where: str) -> Any:
    with engine.connect() as conn:
        query = select(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        return conn.execute(query).one()


def _access(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(access_log).order_by(access_log.c.id)))


@pytest.fixture
def two_clients(db: Engine, cipher: FieldCipher, insert_client: Callable[..., dict]) -> Engine:
    for client_id in ("C-1", "C-2"):
        insert_client(client_id)
        _history(db, cipher, client_id)
    return db


def test_erasure_removes_personal_data_and_keeps_the_facts(two_clients: Engine) -> None:
    db = two_clients
    result = erase_personal_data(db, REQUEST)
    assert (result.complaints, result.complaint_events, result.service_tasks) == (1, 2, 1)
    assert not result.already_erased

    client = _one(db, clients, client_id="C-1")
    for column in ("profile_enc", "name_enc", "phone_hash", "email_hash", "id_number_hash",
                   "birth_month_day"):  # fmt: skip
        assert getattr(client, column) is None, column
    assert client.erased_at == result.erased_at and client.do_not_contact
    assert (client.tier, client.advisor_id, float(client.aum)) == ("gold", "A-7", 820000.0)

    complaint = _one(db, complaints, client_id="C-1")
    assert complaint.content_enc is None and complaint.complainant_enc is None
    assert (complaint.stage, complaint.severity, complaint.satisfaction) == ("closed", "high", 4)
    with db.connect() as conn:
        events = conn.execute(
            select(complaint_events).where(complaint_events.c.complaint_id == "CP-C-1")
        ).all()
    assert [(e.kind, e.stage_to, e.detail_enc) for e in events] == [
        ("opened", "intake", None),
        ("assessed", "investigation", None),
    ]
    task = _one(db, service_tasks, client_id="C-1")
    assert task.outcome_enc is None and task.outcome == {"satisfaction": 5}
    assert _one(db, tier_changes, client_id="C-1").new_tier == "gold"

    # the other client is untouched
    other = _one(db, clients, client_id="C-2")
    assert other.name_enc is not None and other.erased_at is None
    assert _one(db, complaints, client_id="C-2").content_enc is not None
    assert _one(db, service_tasks, client_id="C-2").outcome_enc is not None

    [row] = _access(db)
    assert (row.actor, row.action, row.client_id) == ("S-1024", "erase", "C-1")
    assert row.purpose == "PIPL erasure: PIPL request R-77"


def test_erasure_is_idempotent_and_catches_data_written_back(
    two_clients: Engine, cipher: FieldCipher
) -> None:
    db = two_clients
    first = erase_personal_data(db, REQUEST)
    again = erase_personal_data(db, REQUEST)
    assert again.already_erased and again.erased_at == first.erased_at
    assert len(_access(db)) == 1

    # a projection from a workflow that still held the data writes it back: erasing again
    # removes it and records it, as a second erasure
    with db.begin() as conn:
        conn.execute(
            clients.update()
            .where(clients.c.client_id == "C-1")
            .values(name_enc=cipher.seal("王小明", context="client:C-1"))
        )
    third = erase_personal_data(db, REQUEST)
    assert not third.already_erased and third.erased_at == first.erased_at
    assert _one(db, clients, client_id="C-1").name_enc is None
    assert len(_access(db)) == 2


def test_an_erased_client_gets_no_messages_at_all(two_clients: Engine, cipher: FieldCipher) -> None:
    erase_personal_data(two_clients, REQUEST)
    notify = NotificationActivities(ActivityDeps(engine=two_clients, cipher=cipher))
    for purpose in Purpose:
        req = NotifyRequest(
            notification_id=f"n-{purpose}", workflow_id="client-C-1", client_id="C-1",
            purpose=purpose, template="t",
        )  # fmt: skip
        assert notify.notify(req).status == "suppressed"


def test_the_activity_refuses_an_unknown_client_for_good(db: Engine, cipher: FieldCipher) -> None:
    activities = PrivacyActivities(ActivityDeps(engine=db, cipher=cipher))
    with pytest.raises(UnknownClientError):
        erase_personal_data(db, REQUEST)
    with pytest.raises(ApplicationError) as err:
        ActivityEnvironment().run(activities.erase_client_personal_data, REQUEST)
    assert err.value.non_retryable and err.value.type == "UnknownClient"
    assert _access(db) == []


def test_the_activity_erases(two_clients: Engine, cipher: FieldCipher) -> None:
    activities = PrivacyActivities(ActivityDeps(engine=two_clients, cipher=cipher))
    result = ActivityEnvironment().run(activities.erase_client_personal_data, REQUEST)
    assert result.client_id == "C-1" and result.complaints == 1


def test_the_command_validates_then_erases(two_clients: Engine) -> None:
    body = {"requested_by": "S-1024", "reason": "PIPL request R-77"}
    out = run_erase(two_clients, "C-1", body)
    assert out["client_id"] == "C-1" and out["already_erased"] is False
    assert isinstance(out["erased_at"], str)

    with pytest.raises(CommandError, match="needs the client id"):
        run_erase(two_clients, None, body)
    with pytest.raises(CommandError, match="unknown field"):
        run_erase(two_clients, "C-1", {**body, "name": "王小明"})
    with pytest.raises(CommandError) as err:
        run_erase(two_clients, "C-1", {"requested_by": "S-1", "reason": "王小明 " * 40})
    assert "reason" in err.value.message and "王小明" not in err.value.message
    with pytest.raises(CommandError, match="reason: Field required"):
        run_erase(two_clients, "C-1", {"requested_by": "S-1"})
    with pytest.raises(CommandError) as missing:
        run_erase(two_clients, "C-404", body)
    assert missing.value.code == "not_found"


async def test_the_command_entry_point_uses_the_configured_database(
    two_clients: Engine, pg_url: str, monkeypatch: pytest.MonkeyPatch, ts_env: Any
) -> None:
    """A client with no running workflow (offboarded long ago) is erased in the read models
    the settings name; a served client goes through its workflow (tests/commands)."""
    from commands.base import _settings_engine
    from infra.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    _settings_engine.cache_clear()
    try:
        ctx = CommandContext(client=ts_env.client, policy=Policy())
        out = await erase(ctx, "C-2", {"requested_by": "S-1", "reason": "R-78"})
    finally:
        get_settings.cache_clear()
        _settings_engine.cache_clear()
    assert out["client_id"] == "C-2" and out["via"] == "read models"
    assert _one(two_clients, clients, client_id="C-2").erased_at is not None
