"""Shared fixtures: real PostgreSQL, real Temporal servers, a fresh key ring.

Nothing here skips when a binary is missing: a missing install step must fail the suite.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.policy import Policy
from infra.binaries import temporal_cli
from infra.database import make_engine
from infra.deployment import dev_server_flags
from infra.embedded_pg import EmbeddedPostgres, free_port
from infra.keys import KeyRing, new_key_entry
from infra.temporal import data_converter, register_search_attributes, search_attribute_flags
from projections.migrate import upgrade
from projections.tables import metadata
from tests.helpers.clock import time_skipping_server
from workflows import search_attributes

os.environ.setdefault("CLIENT_CARE_PG_FAST", "1")


@pytest.fixture(scope="session")
def keyring() -> KeyRing:
    """Under the suite `CLIENT_CARE_CIPHER_SUITE` names, as the service's own ring would be
    (`make test-sm4` runs the encryption-heavy tests under SM4-GCM)."""
    suite = os.environ.get("CLIENT_CARE_CIPHER_SUITE") or "aes-256-gcm"
    ring = KeyRing.parse(new_key_entry("test1"), suite)
    # commands driven through a client without the codec seal under this ring too
    import commands.sealing

    commands.sealing.FALLBACK_RING = ring
    return ring


@pytest.fixture(scope="session")
def policy() -> Policy:
    return Policy()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(Path(tmp_path_factory.mktemp("pg")) / "data", free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server: EmbeddedPostgres) -> str:
    """An empty database migrated to head: the migrations are what builds the schema."""
    upgrade(pg_server.url)
    # Commands given no engine use the settings' database: this one, so that what they record
    # (e.g. `client show`'s profile read) lands in the database the test reads.
    os.environ["DATABASE_URL"] = pg_server.url
    from commands.base import _settings_engine
    from infra.settings import get_settings

    get_settings.cache_clear()
    _settings_engine.cache_clear()
    return pg_server.url


@pytest.fixture(scope="session")
def engine(pg_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_url)
    yield eng
    eng.dispose()


@pytest.fixture
def db(engine: Engine) -> Engine:
    """The engine, with every projection table emptied first."""
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names}"))
    return engine


@pytest.fixture
async def ts_env(keyring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: months of timers in milliseconds.

    One per test (it starts in ~0.1 s): the server's clock is shared by everything on it, and a
    workflow one test leaves behind could otherwise hold or skip time in the next.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(keyring),
        test_server_existing_path=time_skipping_server(),
    )
    await register_search_attributes(env.client, search_attributes.ALL)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env(
    keyring: KeyRing, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (visibility, schedules, the UI's queries)."""
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(keyring),
        dev_server_existing_path=temporal_cli(),
        dev_server_extra_args=[
            *search_attribute_flags(search_attributes.ALL),
            *dev_server_flags(),
            "--db-filename",
            str(tmp_path_factory.mktemp("temporal") / "dev.db"),
        ],
        ui=False,
    )
    yield env
    await env.shutdown()


@pytest.fixture
def ts_client(ts_env: WorkflowEnvironment) -> Client:
    return ts_env.client
