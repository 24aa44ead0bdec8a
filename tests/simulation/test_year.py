"""A small simulated year end to end: the real workflows on the time-skipping server, the read
models in a database of the year's own, the exported histories, the report, and the auditor
rebuilding the read models from those exports alone."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

import auditor
from commands.base import CommandContext, CommandError
from commands.demo_year import REPORT_REQUEST_FILE, year
from domain.kpi_period import ReportingPeriod
from domain.policy import Policy
from infra.database import make_engine
from infra.keys import KeyRing
from infra.settings import get_settings
from projections.tables import complaints, improvement_measures, kpi_snapshots, service_tasks
from simulation.database import recreate, year_database_url
from tests.auditor.rig import ring_text

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Year:
    summary: dict[str, Any]
    engine: Engine
    url: str
    out: Path
    report: Path

    @property
    def period(self) -> ReportingPeriod:
        return ReportingPeriod.parse(self.summary["period"], Policy().zone())


@pytest.fixture(scope="module")
async def simulated(
    pg_url: str, keyring: KeyRing, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Year]:
    """`starter.py demo year` itself, as `make run` starts it, at a small size."""
    out = tmp_path_factory.mktemp("year")
    body = {"clients": 20, "complaints": 24, "seed": 11, "out_dir": str(out)}
    setup = make_engine(pg_url)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CLIENT_CARE_KEYS", ring_text(keyring))
        get_settings.cache_clear()
        try:
            ctx = CommandContext(client=None, policy=Policy(), engine=setup)  # type: ignore[arg-type]
            summary = await year(ctx, None, body)
        finally:
            get_settings.cache_clear()
            setup.dispose()
    url = year_database_url(pg_url)
    engine = make_engine(url)
    yield Year(summary, engine, url, out, Path(summary["report"]))
    engine.dispose()


def count(engine: Engine, query: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())  # type: ignore[call-overload]


async def test_the_year_runs_every_command_without_a_refusal(simulated: Year) -> None:
    r = simulated.summary
    period = simulated.period
    assert period.label == f"{period.start.year}" == f"{r['start'][:4]}"  # a calendar year
    assert r["refused"] == {}, r["refused"]
    assert r["commands"]["complaint open"] == 24
    assert r["commands"]["client onboard"] == 20
    assert r["staff"]["callback done"] > 0 and r["staff"]["improvement measures recorded"] > 0


async def test_complaints_spread_over_the_year_and_deadlines_fire(simulated: Year) -> None:
    c, period = complaints, simulated.period
    with simulated.engine.connect() as conn:
        months = conn.execute(
            select(func.count(func.distinct(func.date_trunc("month", c.c.received_at))))
        ).scalar_one()
        received = conn.execute(select(func.min(c.c.received_at), func.max(c.c.received_at))).one()
    assert months >= 9
    assert period.start <= received[0] and received[1] < period.end
    # Timers ran a year: every complaint past its deadline or closed carries what they wrote.
    assert count(simulated.engine, select(func.count()).where(c.c.stage == "closed")) > 10


async def test_callbacks_carry_the_nps_answer_and_kpis_are_snapshotted_monthly(
    simulated: Year,
) -> None:
    t = service_tasks
    answered = select(func.count()).where(
        t.c.kind == "callback", t.c.status == "done", t.c.outcome["recommend"].is_not(None)
    )
    assert count(simulated.engine, answered) > 0
    months = select(func.count(func.distinct(kpi_snapshots.c.period)))
    assert count(simulated.engine, months) >= 12


async def test_the_report_has_a_year_of_figures(simulated: Year) -> None:
    with (simulated.report.parent / "kpi_summary.csv").open() as f:
        summary = {row["metric"]: row["value"] for row in csv.DictReader(f)}
    assert summary["nps"] != "" and summary["csat"] != ""
    assert int(summary["clients_start"]) >= 16  # the opening book
    with (simulated.report.parent / "satisfaction_trend.csv").open() as f:
        trend = list(csv.DictReader(f))
    assert sum(1 for row in trend if row["complaint_responses"] not in ("", "0")) >= 6
    done = select(func.count()).where(improvement_measures.c.status == "done")
    assert count(simulated.engine, done) > 0


async def test_the_exported_histories_replay_and_rebuild_the_read_models(
    simulated: Year,
    keyring: KeyRing,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    histories = simulated.out / "histories"
    assert simulated.summary["histories"] == len(list(histories.glob("*.json"))) > 44
    monkeypatch.setenv("DATABASE_URL", simulated.url)
    monkeypatch.setenv("CLIENT_CARE_KEYS", ring_text(keyring))
    monkeypatch.setenv("CLIENT_CARE_ACTOR", "auditor-under-test")
    assert await auditor.run(["replay", "--history-dir", str(histories), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert replayed["replayed"] == simulated.summary["histories"]
    code = await auditor.run(["verify-projections", "--history-dir", str(histories), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["differences"][:5]
    assert report["compared"]["complaints"] == 24


async def test_an_empty_history_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await auditor.run(["replay", "--history-dir", str(tmp_path)]) == 2
    assert "no *.json history exports" in capsys.readouterr().err


def test_only_a_demo_year_database_is_ever_dropped(pg_url: str) -> None:
    with pytest.raises(ValueError, match="only \\*_demo_year databases"):
        recreate(pg_url)
    assert year_database_url("postgresql+psycopg://u@h:5/care").endswith("/care_demo_year")


async def test_demo_year_refuses_bad_sizes_before_touching_anything() -> None:
    ctx = CommandContext(client=None, policy=Policy())  # type: ignore[arg-type]
    for body in ({"clients": "many"}, {"clients": 0}, {"complaints": 10**9}):
        with pytest.raises(CommandError) as err:
            await year(ctx, None, body)
        assert err.value.code == "invalid"


def _readme_rebuild_command() -> list[str]:
    """The README's documented command for rebuilding the year's report, as words."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"^\s*(\S*python) (starter\.py report build --file \S+)\s*$", readme, re.M)
    assert found, "the README documents how to rebuild the year's report"
    return found.group(2).split()


def test_the_readmes_rebuild_command_gives_the_simulations_own_report(
    simulated: Year, keyring: KeyRing
) -> None:
    words = _readme_rebuild_command()
    documented = Path(words[-1])
    assert documented == Path(".data/demo-year") / REPORT_REQUEST_FILE  # where make run writes it
    request = simulated.out / documented.name
    assert json.loads(request.read_text())["period"] == simulated.summary["period"]
    env = {
        **os.environ,
        "DATABASE_URL": simulated.url,
        "CLIENT_CARE_KEYS": ring_text(keyring),
    }
    done = subprocess.run(
        [sys.executable, *words[:-1], str(request)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rebuilt = Path(json.loads(done.stdout)["html"]).parent
    ours = sorted(p.name for p in simulated.report.parent.glob("*.csv"))
    assert ours and sorted(p.name for p in rebuilt.glob("*.csv")) == ours
    for name in ours:  # every figure of every table
        assert (rebuilt / name).read_text() == (simulated.report.parent / name).read_text(), name
    assert (rebuilt / simulated.report.name).is_file()
