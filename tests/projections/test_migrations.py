"""The alembic migrations and `projections.tables` describe the same schema."""

from __future__ import annotations

import uuid

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from projections.tables import metadata


def test_migrated_schema_matches_the_table_definitions(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"tables.py and migrations differ: {diff}"


def test_the_access_chain_migration_chains_the_rows_already_there(
    engine: Engine, pg_url: str
) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from audit.access_chain import verify_chain
    from infra.database import make_engine
    from projections.migrate import alembic_config, upgrade

    name = f"chain_{uuid.uuid4().hex[:8]}"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url, "0004")
    fresh = make_engine(url)
    try:
        with fresh.begin() as conn:
            for i in range(3):
                conn.execute(
                    text(
                        "INSERT INTO access_log (actor, at, action, client_id, purpose) "
                        "VALUES ('a', now(), 'erase', :c, NULL)"
                    ),
                    {"c": f"c-{i}"},
                )
        upgrade(url, "head")
        report = verify_chain(fresh)
        assert (report.ok, report.rows) == (True, 3)
        with fresh.begin() as conn:
            conn.execute(
                text("INSERT INTO access_log (actor, at, action) VALUES ('b', now(), 'x')")
            )
        assert (verify_chain(fresh).ok, verify_chain(fresh).rows) == (True, 4)
        command.downgrade(alembic_config(url), "0004")
    finally:
        fresh.dispose()
