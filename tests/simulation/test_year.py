"""A small simulated year end to end: the real workflows on the time-skipping server, the read
models in a database of the year's own, the exported histories, the report, and the auditor
rebuilding the read models from those exports alone."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

import auditor
from commands.base import CommandContext, CommandError
from commands.demo import DemoSize
from commands.demo_year import year
from commands.report import build as report_build
from domain.policy import Policy
from infra.database import make_engine
from infra.keys import KeyRing
from projections.tables import complaints, improvement_measures, kpi_snapshots, service_tasks
from reports.build import ReportFiles, build_report
from simulation.database import recreate, year_database_url
from simulation.year import YearResult, simulate_year
from tests.auditor.rig import ring_text


@dataclass
class Year:
    result: YearResult
    engine: Engine
    url: str
    out: Path
    report: ReportFiles


@pytest.fixture(scope="module")
async def simulated(
    pg_url: str, keyring: KeyRing, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Year]:
    url = year_database_url(pg_url)
    recreate(url)
    engine = make_engine(url)
    out = tmp_path_factory.mktemp("year")
    result = await simulate_year(engine, keyring, Policy(), out, DemoSize(20, 24), seed=11)
    report = build_report(engine, result.period, out / "report", Policy(), result.period.end)
    yield Year(result, engine, url, out, report)
    engine.dispose()


def count(engine: Engine, query: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())  # type: ignore[call-overload]


async def test_the_year_runs_every_command_without_a_refusal(simulated: Year) -> None:
    r = simulated.result
    assert r.period.label == f"{r.period.start.year}"  # twelve calendar months
    assert r.refused == {}, r.refused
    assert r.commands["complaint open"] == 24
    assert r.commands["client onboard"] == 20
    assert r.staff["callback done"] > 0 and r.staff["improvement measures recorded"] > 0


async def test_complaints_spread_over_the_year_and_deadlines_fire(simulated: Year) -> None:
    c, period = complaints, simulated.result.period
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
    with (simulated.report.html.parent / "kpi_summary.csv").open() as f:
        summary = {row["metric"]: row["value"] for row in csv.DictReader(f)}
    assert summary["nps"] != "" and summary["csat"] != ""
    assert int(summary["clients_start"]) >= 16  # the opening book
    with (simulated.report.html.parent / "satisfaction_trend.csv").open() as f:
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
    assert simulated.result.runs_exported == len(list(histories.glob("*.json"))) > 44
    monkeypatch.setenv("DATABASE_URL", simulated.url)
    monkeypatch.setenv("CLIENT_CARE_KEYS", ring_text(keyring))
    monkeypatch.setenv("CLIENT_CARE_ACTOR", "auditor-under-test")
    assert await auditor.run(["replay", "--history-dir", str(histories), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert replayed["replayed"] == simulated.result.runs_exported
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


async def test_report_build_as_of_the_years_end_gives_the_simulations_report(
    simulated: Year, tmp_path: Path
) -> None:
    ctx = CommandContext(client=None, policy=Policy(), engine=simulated.engine)  # type: ignore[arg-type]
    period = simulated.result.period
    body = {"period": period.label, "as_of": period.end.isoformat(), "out_dir": str(tmp_path)}
    out = await report_build(ctx, None, body)
    for name in ("kpi_summary", "satisfaction_trend", "callbacks_by_advisor"):
        ours = (simulated.report.html.parent / f"{name}.csv").read_text()
        assert (tmp_path / f"{name}.csv").read_text() == ours, name
    assert Path(out["html"]).name == simulated.report.html.name
