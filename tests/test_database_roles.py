"""The deployment's PostgreSQL roles, set up as docker-compose.yml does it, on a real server of
its own (roles belong to a cluster): deploy/postgres/init-databases.sh as the superuser, the
migrations as the read models' owner, deploy/postgres/logins.sql as the owner; then what each
login may and may not do."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import errors
from temporalio.client import Client

from domain.policy import Policy
from infra.database import make_engine
from infra.embedded_pg import POSTGRES_BIN_PATH, EmbeddedPostgres, free_port
from infra.settings import ROOT
from infra.worklist import Worklist, policy_in_force
from projections.migrate import upgrade
from projections.tables import clients, complaints, metadata

APP_DB = "client_care"
TABLES = sorted(t.name for t in metadata.sorted_tables)
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(
        Path(tmp_path_factory.mktemp("roles")) / "data", free_port(), database="postgres"
    )
    server.start()
    env = {
        "PATH": f"{POSTGRES_BIN_PATH}:{os.environ['PATH']}",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(server.port),
        "POSTGRES_USER": "postgres",
        "TEMPORAL_DB_PASSWORD": "t-secret",
        "CLIENT_CARE_OWNER_PASSWORD": "o-secret",
    }
    try:
        subprocess.run(["sh", str(ROOT / "deploy/postgres/init-databases.sh")], env=env, check=True)
        upgrade(f"postgresql+psycopg://client_care_owner@127.0.0.1:{server.port}/{APP_DB}")
        logins = [
            f"-v{who}_password={who}-secret" for who in ("worker", "codec", "reporting", "auditor")
        ]
        script = str(ROOT / "deploy/postgres/logins.sql")
        subprocess.run(
            ["psql", "-v", "ON_ERROR_STOP=1", "-v", f"app_db={APP_DB}", *logins,
             "-U", "client_care_owner", "-d", APP_DB, "-f", script],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        yield server
    finally:
        server.stop()


def _connect(cluster: EmbeddedPostgres, user: str, db: str = APP_DB) -> psycopg.Connection:
    return psycopg.connect(host="127.0.0.1", port=cluster.port, user=user, dbname=db)


def _granted(conn: psycopg.Connection, role: str, table: str) -> set[str]:
    query = "SELECT has_table_privilege(%s, %s, %s)"
    return {p for p in PRIVILEGES if conn.execute(query, (role, table, p)).fetchone()[0]}


def _privileges(cluster: EmbeddedPostgres, login: str) -> dict[str, set[str]]:
    with _connect(cluster, "postgres") as conn:
        return {table: _granted(conn, login, table) for table in [*TABLES, "alembic_version"]}


def test_each_login_holds_exactly_its_grants(cluster: EmbeddedPostgres) -> None:
    everything = set(PRIVILEGES)
    worker = _privileges(cluster, "cc_worker")
    reporting = _privileges(cluster, "cc_reporting")
    auditor = _privileges(cluster, "cc_auditor")
    codec = _privileges(cluster, "cc_codec")
    for table in TABLES:
        if table in ("access_log", "subject_keys"):
            continue
        assert worker[table] == everything, table
        assert reporting[table] == {"SELECT"}, table
        assert auditor[table] == {"SELECT"}, table
        assert codec[table] == set(), table
    assert worker["access_log"] == {"SELECT", "INSERT"}
    assert reporting["access_log"] == set()
    assert auditor["access_log"] == {"SELECT", "INSERT"}
    assert codec["access_log"] == {"INSERT"}
    # wrapped data keys: the writer keeps them; reporting never reads one; the codec server may
    # see only which subjects were erased (a column grant), never a key
    assert worker["subject_keys"] == everything
    assert reporting["subject_keys"] == set()
    assert auditor["subject_keys"] == {"SELECT"}
    assert codec["subject_keys"] == set()
    with _connect(cluster, "cc_codec") as conn:
        conn.execute("SELECT subject_id, destroyed_at FROM subject_keys").fetchall()
        _refused(conn, "SELECT wrapped_dek FROM subject_keys")
    for grants in (worker, reporting, auditor, codec):
        assert grants["alembic_version"] == set()


def _refused(conn: psycopg.Connection, sql: str) -> None:
    with pytest.raises(errors.InsufficientPrivilege):
        conn.execute(sql)
    conn.rollback()


def test_access_log_is_append_only_for_the_writer(cluster: EmbeddedPostgres) -> None:
    with _connect(cluster, "cc_worker") as conn:
        conn.execute(
            "INSERT INTO access_log (actor, at, action, purpose) VALUES ('w', now(), 'read', 't')"
        )
        conn.commit()
        assert conn.execute("SELECT count(*) FROM access_log").fetchone()[0] >= 1
        _refused(conn, "UPDATE access_log SET purpose = 'changed'")
        _refused(conn, "DELETE FROM access_log")
        _refused(conn, "TRUNCATE access_log")
        # the read models themselves are the writer's to change
        conn.execute("DELETE FROM kpi_snapshots")
        _refused(conn, "CREATE TABLE planted (x int)")
        _refused(conn, "UPDATE alembic_version SET version_num = 'x'")


def test_reporting_reads_and_cannot_write(cluster: EmbeddedPostgres) -> None:
    with _connect(cluster, "cc_reporting") as conn:
        conn.execute("SELECT count(*) FROM clients").fetchone()
        _refused(conn, "SELECT * FROM access_log")
        _refused(conn, "DELETE FROM clients")
        _refused(conn, "UPDATE complaints SET stage = 'closed'")
        _refused(conn, "INSERT INTO access_log (actor, at, action) VALUES ('r', now(), 'read')")


def test_the_auditor_reads_everything_and_records_its_reads(cluster: EmbeddedPostgres) -> None:
    with _connect(cluster, "cc_auditor") as conn:
        conn.execute("SELECT count(*) FROM access_log").fetchone()
        conn.execute(
            "INSERT INTO access_log (actor, at, action) VALUES ('auditor', now(), 'history')"
        )
        conn.commit()
        _refused(conn, "UPDATE access_log SET actor = 'nobody'")
        _refused(conn, "DELETE FROM clients")


def test_the_codec_server_only_records_its_decodes(cluster: EmbeddedPostgres) -> None:
    with _connect(cluster, "cc_codec") as conn:
        conn.execute(
            "INSERT INTO access_log (actor, at, action) VALUES ('codec:session', now(), 'decode')"
        )
        conn.commit()
        _refused(conn, "SELECT * FROM access_log")
        _refused(conn, "SELECT * FROM clients")


def test_the_codec_server_reads_only_the_worklists_columns(cluster: EmbeddedPostgres) -> None:
    """The worklist's own read-model queries run as the codec login; sealed columns, blind
    indexes and other tables stay out of its reach (migration 0007's column grants)."""
    engine = make_engine(
        f"postgresql+psycopg://cc_codec:codec-secret@127.0.0.1:{cluster.port}/{APP_DB}"
    )
    try:
        worklist = Worklist(
            client=_no_temporal, engine=engine, policy=lambda _now: Policy(),
            namespace="default", ui_url="http://ui",
        )  # fmt: skip
        assert worklist._column(complaints.c.workflow_id, [complaints.c.handler], ["x"]) == {}
        columns = [clients.c.advisor_id, clients.c.next_service_kind]
        assert worklist._column(clients.c.workflow_id, columns, ["x"]) == {}
        shipped = Policy()
        assert policy_in_force(engine, shipped, datetime.now(UTC)) is shipped
    finally:
        engine.dispose()
    with _connect(cluster, "cc_codec") as conn:
        for sql in (
            "SELECT content_enc FROM complaints",
            "SELECT complainant_enc FROM complaints",
            "SELECT client_id FROM complaints",
            "SELECT name_enc FROM clients",
            "SELECT phone_hash FROM clients",
            "SELECT profile_enc FROM clients",
            "SELECT workflow_id FROM service_tasks",
            "SELECT detail_enc FROM complaint_events",
        ):
            _refused(conn, sql)


async def _no_temporal() -> Client:
    raise AssertionError("not asked for here")


def test_temporal_has_its_own_databases_and_nothing_else(cluster: EmbeddedPostgres) -> None:
    with _connect(cluster, "temporal", "temporal") as conn:
        conn.execute("CREATE TABLE schema_probe (x int)")  # its own: the schema tool creates tables
        conn.commit()
    with _connect(cluster, "temporal", "temporal_visibility"):
        pass
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        _connect(cluster, "temporal", APP_DB)
    for login in ("cc_worker", "cc_reporting", "cc_auditor", "cc_codec"):
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            _connect(cluster, login, "temporal")
    with _connect(cluster, "postgres") as conn:
        rows = conn.execute(
            "SELECT rolname, rolsuper, rolcreaterole, rolcanlogin FROM pg_roles "
            "WHERE rolname IN ('temporal', 'client_care_owner', 'cc_worker', 'client_care_writer')"
        ).fetchall()
    assert {r[0]: r[1:] for r in rows} == {
        "temporal": (False, False, True),
        "client_care_owner": (False, True, True),
        "cc_worker": (False, False, True),
        "client_care_writer": (False, False, False),
    }


def test_the_migration_runs_again_on_a_second_database_and_downgrades(
    cluster: EmbeddedPostgres,
) -> None:
    """Roles belong to the cluster: a second database's migration finds them existing."""
    from alembic import command

    from projections.migrate import alembic_config

    with _connect(cluster, "postgres", "postgres") as conn:
        conn.autocommit = True
        conn.execute("CREATE DATABASE second OWNER client_care_owner")
    url = f"postgresql+psycopg://client_care_owner@127.0.0.1:{cluster.port}/second"
    upgrade(url)
    command.downgrade(alembic_config(url), "0001")
    assert _privileges_in(cluster, "second", "client_care_writer", "clients") == set()
    upgrade(url)
    assert _privileges_in(cluster, "second", "client_care_writer", "clients") == set(PRIVILEGES)


def _privileges_in(cluster: EmbeddedPostgres, db: str, role: str, table: str) -> set[str]:
    with _connect(cluster, "postgres", db) as conn:
        return _granted(conn, role, table)
