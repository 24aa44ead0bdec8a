"""The simulated year's own database, next to the live one, so that its future-dated rows never
mix with the read models of the live workflows (which `verify-projections` checks against the
live server's histories)."""

from __future__ import annotations

from sqlalchemy import create_engine, make_url, text

from projections.migrate import upgrade

SUFFIX = "_demo_year"


def year_database_url(live_url: str) -> str:
    """The live database's URL with `_demo_year` appended to the database name."""
    url = make_url(live_url)
    return url.set(database=f"{url.database or 'postgres'}{SUFFIX}").render_as_string(
        hide_password=False
    )


def recreate(url: str) -> None:
    """Drops and creates the year's database, then migrates it to head. Only a database whose
    name ends in `_demo_year` is ever dropped: the simulation owns those and nothing else."""
    target = make_url(url)
    name = target.database or ""
    if not name.endswith(SUFFIX):
        raise ValueError(f"refusing to recreate {name!r}: only *{SUFFIX} databases are the demo's")
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    upgrade(url)
