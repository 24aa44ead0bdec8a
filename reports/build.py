"""`build_report`: one period's HTML report and a CSV per table, read from PostgreSQL.

The scorecards are computed afresh with the same functions as `KpiReportWorkflow`, so the
report works for any period, snapshotted or not, and agrees with the snapshot when there is one.
The appraisal shown is the quantitative part: the qualitative ratings live in the KPI runs.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select

from domain.kpi_period import ReportingPeriod
from domain.kpi_scorecard import scorecards
from domain.policy import Policy
from infra.progress import progress_bar
from projections.tables import improvement_measures, tier_changes
from reports.charts import build_charts
from reports.datasets import (
    Dataset,
    ReportInputs,
    build_datasets,
    regulator_tables,
    trend_months,
)
from reports.html import render
from reports.i18n import DEFAULT_LANGUAGE, words
from reports.queries import (
    load_callbacks,
    load_complaints,
    load_facts,
    load_regulatory_facts,
    previous_aum,
)


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    csv: list[Path]


def _staff_records(conn: Connection, period: ReportingPeriod) -> tuple[list[Any], list[Any]]:
    moves = conn.execute(
        select(tier_changes.c.old_tier, tier_changes.c.new_tier).where(
            tier_changes.c.at >= period.start, tier_changes.c.at < period.end
        )
    ).all()
    measures = conn.execute(
        select(improvement_measures).order_by(
            improvement_measures.c.due, improvement_measures.c.measure_id
        )
    ).all()
    return [tuple(m) for m in moves], [dict(m._mapping) for m in measures]


def load_inputs(
    engine: Engine, period: ReportingPeriod, policy: Policy, now: datetime
) -> ReportInputs:
    as_of = min(period.end, now)
    trend_start = trend_months(period, policy)[0].start
    # Every table read from one snapshot, so the charts cannot disagree with each other.
    with (
        engine.connect() as conn,
        conn.execution_options(isolation_level="REPEATABLE READ").begin(),
    ):
        facts = load_facts(conn, period.start, period.end, policy.appraisal.repeat_complaint_window)
        cards = scorecards(facts, period, policy, as_of, previous_aum(conn, period.start))
        moves, measures = _staff_records(conn, period)
        return ReportInputs(
            period=period,
            policy=policy,
            as_of=as_of,
            facts=facts,
            trend_callbacks=load_callbacks(conn, trend_start, period.end),
            trend_complaints=load_complaints(conn, trend_start, period.end),
            cards=cards,
            tier_changes=moves,
            measures=measures,
            today=now.astimezone(policy.zone()).date(),
            regulatory=load_regulatory_facts(conn, period.start, period.end),
        )


def write_csv(ds: Dataset, out_dir: Path) -> Path:
    path = out_dir / f"{ds.name}.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(ds.columns)
        writer.writerows(["" if v is None else v for v in row] for row in ds.rows)
    return path


def build_regulator_return(
    engine: Engine, period: ReportingPeriod, out_dir: Path, policy: Policy
) -> tuple[list[Path], Dataset]:
    """`report regulator`: the return and its complaints as CSV files, without the charts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with engine.connect() as conn:
        facts = load_regulatory_facts(conn, period.start, period.end)
    tables = regulator_tables(facts, period, policy)
    return [write_csv(ds, out_dir) for ds in tables], tables[0]


def build_report(
    engine: Engine,
    period: ReportingPeriod,
    out_dir: Path,
    policy: Policy,
    now: datetime | None = None,
    language: str = DEFAULT_LANGUAGE,
) -> ReportFiles:
    """Writes `report-<period>.html` in `language` (`reports.i18n`: zh-CN, the firm's, unless
    told) and one CSV per dataset into `out_dir` (created); the CSV files are the same in any
    language."""
    w = words(language)  # an unknown language is refused before anything is read or written
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = load_inputs(engine, period, policy, now or datetime.now(UTC))
    data = build_datasets(inputs)
    thunks = build_charts(data, policy, w)
    with progress_bar("report", len(thunks) + 2, summary=False, transient=True) as advance:
        advance(description="read projections")
        charts = []
        for draw in thunks:
            charts.append(draw())
            advance(description=f"chart {charts[-1].name}")
        csv_paths = [write_csv(ds, out_dir) for ds in data.values()]
        firm = inputs.cards[0]
        html_path = out_dir / f"report-{period.label}.html"
        html_path.write_text(
            render(
                period,
                policy,
                inputs.as_of,
                charts,
                data,
                firm.metrics,
                firm.appraisal.quantitative,
                w,
            ),
            encoding="utf-8",
        )
        advance(description="written")
    return ReportFiles(html=html_path, csv=csv_paths)
