"""Fixtures of the security tests: a sample person, sealed client rows, a running worker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from infra.keys import KeyRing
from projections.crypto import FieldCipher, column_context
from projections.tables import clients
from tests.security.probe_app import Person, probe_greet, probe_reject
from tests.security.probe_workflows import PiiProbeWorkflow, WaitForNoteWorkflow

# The ID number is the standard's own worked example (GB 11643-1999), valid check digit included.
PERSON = Person(
    name="王小明",
    phone="+86 138-1234-5678",
    email="wang.xiaoming@example.cn",
    id_number="11010519491231002X",
)


@pytest.fixture
def person() -> Person:
    return PERSON


@pytest.fixture(scope="session")
def cipher(keyring: KeyRing) -> FieldCipher:
    return FieldCipher(keyring)


def client_row(cipher: FieldCipher, client_id: str, person: Person, **overrides: Any) -> dict:
    """A `clients` row as the client projection writes it: personal data sealed or blinded."""
    row: dict[str, Any] = {
        "client_id": client_id,
        "workflow_id": f"client-{client_id}",
        "seq": 1,
        "kind": "individual",
        "tier": "gold",
        "risk_profile": "balanced",
        "advisor_id": "A-7",
        "status": "active",
        "aum": 820000,
        "consents": {"granted": {"sms": ["service", "complaint"], "email": ["care"]}},
        "do_not_contact": False,
        "profile_enc": cipher.seal(
            person.model_dump(), context=column_context("clients", "profile_enc", client_id)
        ),
        "name_enc": cipher.seal(
            person.name, context=column_context("clients", "name_enc", client_id)
        ),
        "phone_hash": cipher.blind(person.phone),
        "email_hash": cipher.blind(person.email),
        "id_number_hash": cipher.blind(person.id_number),
        "birth_month_day": "12-31",
        "updated_at": datetime.now(UTC),
    }
    row.update(overrides)
    return row


@pytest.fixture
def insert_client(db: Engine, cipher: FieldCipher) -> Callable[..., dict]:
    def insert(client_id: str, person: Person = PERSON, **overrides: Any) -> dict:
        row = client_row(cipher, client_id, person, **overrides)
        with db.begin() as conn:
            conn.execute(clients.insert().values(row))
        return row

    return insert


def probe_worker(client: Client, task_queue: str) -> AbstractAsyncContextManager[Worker]:
    @asynccontextmanager
    async def run() -> AsyncIterator[Worker]:
        with ThreadPoolExecutor(max_workers=4) as executor:
            worker = Worker(
                client,
                task_queue=task_queue,
                workflows=[PiiProbeWorkflow, WaitForNoteWorkflow],
                activities=[probe_greet, probe_reject],
                activity_executor=executor,
            )
            async with worker:
                yield worker

    return run()


@pytest.fixture
def task_queue() -> str:
    return f"security-{uuid.uuid4().hex[:8]}"
