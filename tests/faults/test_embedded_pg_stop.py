"""`EmbeddedPostgres.stop()` must shut PostgreSQL down cleanly while clients are connected.

A pooled engine (the worker's, the tests') keeps idle connections open. A *smart* shutdown
(SIGTERM) waits for every session to end by itself, which with a pool is never: `stop()` then
waited out its timeout and SIGKILLed the postmaster, leaving its backends to notice on their own
and the data directory to be recovered on the next start (fixed in ca37d18: fast shutdown).
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from infra.embedded_pg import EmbeddedPostgres, free_port


def test_stop_ends_postgres_cleanly_with_a_client_connected(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "data", free_port())
    pg.start()
    postmaster = pg.process
    assert postmaster is not None
    dsn = f"host=127.0.0.1 port={pg.port} user=postgres dbname={pg.database}"
    with psycopg.connect(dsn):  # an idle pooled session
        pg.stop(timeout=3)
        assert postmaster.returncode == 0, f"postmaster ended with {postmaster.returncode}"
