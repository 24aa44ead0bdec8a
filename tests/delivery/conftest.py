"""Fixtures of the delivery tests: sealed client rows as the projection writes them, an outbox
filled through the real `notify` activity, and a dispatcher on a clock the test moves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from activities.clients import client_row
from activities.deps import ActivityDeps
from activities.notifications import NotificationActivities
from domain.client import ClientFile
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.tables import clients, notifications
from tests.delivery.servers import Gateway, serve_gateway
from tests.helpers.records import client_record

# 10:30 in Shanghai, inside the default contact window (09:00-21:00).
MORNING = datetime(2027, 3, 15, 2, 30, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime = MORNING) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


@pytest.fixture(scope="session")
def cipher(keyring: KeyRing) -> FieldCipher:
    return FieldCipher(keyring)


@pytest.fixture
def deps(db: Engine, cipher: FieldCipher) -> ActivityDeps:
    return ActivityDeps(engine=db, cipher=cipher)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def write_client(deps: ActivityDeps, client_id: str, **file: Any) -> ClientFile:
    """A `clients` row exactly as the client projection writes it."""
    values: dict[str, Any] = {
        "client_id": client_id,
        "kind": "individual",
        "basic": {"name": "王小明", "phone": "13812345678", "email": "wang@example.cn"},
        "consents": {"granted": {"sms": ["service", "care", "complaint"], "email": ["events"]}},
    } | file
    f = ClientFile.model_validate(values)
    rec = client_record(f, MORNING)
    row = client_row(f"client-{client_id}", 1, MORNING, rec, deps.cipher)
    with deps.engine.begin() as conn:
        conn.execute(clients.delete().where(clients.c.client_id == client_id))
        conn.execute(clients.insert().values(row))
    return f


@pytest.fixture
def client_file(deps: ActivityDeps) -> Callable[..., ClientFile]:
    return lambda client_id, **file: write_client(deps, client_id, **file)


@pytest.fixture
def notifier(deps: ActivityDeps) -> NotificationActivities:
    return NotificationActivities(deps)


def outbox(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {r.notification_id: r for r in conn.execute(select(notifications))}


@pytest.fixture
def gateway() -> Iterator[tuple[Gateway, str]]:
    gw = Gateway()
    server = serve_gateway(gw)
    yield gw, f"http://127.0.0.1:{server.server_address[1]}/v1/sms"
    server.shutdown()
    server.server_close()


@pytest.fixture
def certs(tmp_path: Path) -> tuple[Path, Path]:
    from tests.delivery.servers import self_signed

    return self_signed(tmp_path)
