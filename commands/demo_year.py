"""`starter.py demo year`: the simulated year (see `simulation/`) as a command."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import make_url
from sqlalchemy.exc import OperationalError

from commands.base import CommandContext, CommandError, engine_for
from commands.demo import sizes

RESULT_FILE = "result.json"
# The body of `starter.py report build --file ...` that rebuilds the year's own report: the
# year's period, open items judged as of its end (today lies before the simulated year).
REPORT_REQUEST_FILE = "report-request.json"


def report_request(result_period: Any, out_dir: Path) -> dict[str, str]:
    return {
        "period": result_period.label,
        "as_of": result_period.end.date().isoformat(),
        "out_dir": str(out_dir / "report-rebuilt"),
    }


async def year(ctx: CommandContext, _id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    """`starter.py demo year [--json '{"clients": 300, "complaints": 300, "seed": 2026,
    "out_dir": ".data/demo-year"}']`: a simulated year through the real workflows on a
    time-skipping server, into the `<database>_demo_year` database, with its histories saved
    and its report built. Needs no Temporal connection."""
    from infra.database import make_engine
    from infra.keys import load_keyring
    from infra.settings import get_settings
    from reports.build import build_report
    from simulation.database import recreate, year_database_url
    from simulation.year import YEAR_SIZE, SimulationStuckError, simulate_year

    size, seed = sizes(body, YEAR_SIZE, 5_000, "demo year")
    out_dir = Path(str(body.get("out_dir") or ".data/demo-year"))
    url = year_database_url(engine_for(ctx).url.render_as_string(hide_password=False))
    try:
        await asyncio.to_thread(recreate, url)
    except OperationalError as exc:
        where = make_url(url).set(database=None).render_as_string(hide_password=True)
        raise CommandError(
            f"demo year: cannot reach PostgreSQL at {where} (start the stack with `make run`, "
            f"or set DATABASE_URL): {str(exc.orig).splitlines()[0]}",
            "unavailable",
        ) from None
    # A new year replaces the last one whole: no stale history file may mix with it.
    for owned in ("histories", "report"):
        await asyncio.to_thread(shutil.rmtree, out_dir / owned, True)
    engine = make_engine(url)
    try:
        try:
            result = await simulate_year(
                engine, load_keyring(get_settings()), ctx.policy, out_dir, size, seed
            )
        except SimulationStuckError as exc:
            raise CommandError(f"demo year: {exc}", "unavailable") from None
        files = await asyncio.to_thread(
            build_report, engine, result.period, out_dir / "report", ctx.policy, result.period.end
        )
    finally:
        engine.dispose()
    summary = {
        **result.as_json(),
        "size": {"clients": size.clients, "complaints": size.complaints, "seed": seed},
        "database_url": make_url(url).render_as_string(hide_password=True),
        "histories_dir": str(out_dir / "histories"),
        "report": str(files.html),
        "report_request": str(out_dir / REPORT_REQUEST_FILE),
    }
    request = json.dumps(report_request(result.period, out_dir), indent=2) + "\n"
    (out_dir / REPORT_REQUEST_FILE).write_text(request, encoding="utf-8")
    (out_dir / RESULT_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
