"""The report's tables, computed once: the charts draw them and the CSV files are them, so a
figure in a chart is always a figure in a file.

Everything is derived through the domain functions the KPI snapshots use, so the report of a
period and its snapshot agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from domain import kpi
from domain.analysis import WEEKDAYS, analyse_complaints
from domain.enums import Tier
from domain.kpi import CallbackFact, ComplaintFact
from domain.kpi_period import ReportingPeriod
from domain.kpi_scorecard import KpiFacts, Scorecard
from domain.periods import add_months
from domain.policy import Policy
from domain.regulatory import COLUMNS as RETURN_COLUMNS
from domain.regulatory import RegulatoryFact, regulator_return

TREND_MONTHS = 12
TIER_RANK = {t.value: i for i, t in enumerate(reversed(list(Tier)))}  # regular 0 … diamond 3
SCORED = ("csat", "nps", "callback_completion", "deadline_compliance", "complaint_satisfaction",
          "retention", "aum_growth", "repeat_complaints")  # fmt: skip


@dataclass(frozen=True)
class Dataset:
    name: str  # also the CSV file's stem; the page's title for it is `title.<name>` (reports.i18n)
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [r[i] for r in self.rows]


@dataclass(frozen=True)
class ReportInputs:
    """What the report reads: the period's facts, plus the trend's and the staff records."""

    period: ReportingPeriod
    policy: Policy
    as_of: datetime
    facts: KpiFacts
    trend_callbacks: Sequence[CallbackFact]
    trend_complaints: Sequence[ComplaintFact]
    cards: Sequence[Scorecard]
    tier_changes: Sequence[tuple[str, str]]  # (old tier, new tier) of changes in the period
    measures: Sequence[dict[str, Any]]
    today: date
    regulatory: Sequence[RegulatoryFact] = ()


def _counts(name: str, key: str, counts: dict[str, int]) -> Dataset:
    return Dataset(name, (key, "complaints"), list(counts.items()))


def _local(instant: datetime | None, policy: Policy) -> str | None:
    """Timestamps in the firm's zone, as staff read them."""
    return None if instant is None else instant.astimezone(policy.zone()).isoformat("T", "minutes")


def _cells(ratio: kpi.Ratio) -> tuple[int, int, float | None]:
    """(total, hits, share): the share alone would hide that 100 % may be 1 of 1."""
    value = ratio.value
    return ratio.total, ratio.hits, None if value is None else round(value, 4)


def _ratio_row(key: str, ratio: kpi.Ratio) -> tuple[Any, ...]:
    return (key, *_cells(ratio))


def complaint_tables(inp: ReportInputs) -> list[Dataset]:
    p = inp.period
    received = [c for c in inp.facts.complaints if p.start <= c.received_at < p.end]
    a = analyse_complaints(received, inp.policy.zone())
    hours = [(h, n) for h, n in enumerate(a.by_hour)]
    days = list(zip(WEEKDAYS, a.by_weekday, strict=True))
    decided = [
        c for c in inp.facts.complaints
        if c.resolved_at is not None and not c.withdrawn and p.start <= c.resolved_at < p.end
    ]  # fmt: skip
    resolution = [
        (
            c.complaint_id,
            c.department,
            round((c.resolved_at - c.received_at) / timedelta(days=1), 2),  # type: ignore[operator]
            None if c.sla_deadline is None else c.resolved_at <= c.sla_deadline,  # type: ignore[operator]
        )
        for c in sorted(decided, key=lambda c: c.complaint_id)
    ]
    by_dept: dict[str, list[ComplaintFact]] = {}
    for c in inp.facts.complaints:
        by_dept.setdefault(c.department or "unassigned", []).append(c)
    compliance = [
        _ratio_row(d, kpi.deadline_compliance(cs, p.start, p.end, inp.as_of))
        for d, cs in sorted(by_dept.items())
    ]
    compliance.append(
        _ratio_row("all", kpi.deadline_compliance(inp.facts.complaints, p.start, p.end, inp.as_of))
    )
    return [
        _counts("complaints_by_category", "category", a.by_category),
        _counts("complaints_by_cause", "root_cause", a.by_cause),
        _counts("complaints_by_channel", "channel", a.by_channel),
        Dataset("complaints_by_hour", ("hour", "complaints"), hours),
        Dataset("complaints_by_weekday", ("weekday", "complaints"), days),
        Dataset(
            "resolution_times",
            ("complaint_id", "department", "days_to_decision", "met_deadline"),
            resolution,
        ),
        Dataset(
            "deadline_compliance",
            ("department", "due", "met", "compliance"),
            compliance,
        ),
    ]


def trend_months(period: ReportingPeriod, policy: Policy) -> list[ReportingPeriod]:
    """The TREND_MONTHS calendar months up to and including the one the period ends in."""
    zone = policy.zone()
    last = ReportingPeriod.parse(f"{period.before().astimezone(zone):%Y-%m}", zone)
    return [
        ReportingPeriod.parse(f"{add_months(last.start, -back):%Y-%m}", zone)
        for back in range(TREND_MONTHS - 1, -1, -1)
    ]


def trend_table(inp: ReportInputs) -> Dataset:
    """CSAT (callbacks) and complaint-handling satisfaction, month by month up to the period."""
    rows = []
    for month in trend_months(inp.period, inp.policy):
        sat = kpi.csat(kpi.callback_answers(inp.trend_callbacks, month.start, month.end)[0])
        handled, _ = kpi.complaint_satisfaction(
            inp.trend_complaints, month.start, month.end, inp.policy.complaints.satisfied_at
        )
        rows.append((month.label, *_cells(sat), *_cells(handled)))
    return Dataset(
        "satisfaction_trend",
        ("month", "csat_responses", "csat_satisfied", "csat",
         "complaint_responses", "complaint_satisfied", "complaint_satisfaction"),
        rows,
    )  # fmt: skip


def _completion(name: str, key: str, groups: dict[str, list[CallbackFact]],
                inp: ReportInputs) -> Dataset:  # fmt: skip
    p, grace = inp.period, inp.policy.service.callback_grace
    rows = [
        _ratio_row(k, kpi.callback_completion(cbs, p.start, p.end, grace, inp.as_of))
        for k, cbs in groups.items()
    ]
    return Dataset(name, (key, "due", "on_time", "completion"), rows)


def _group(callbacks: Iterable[CallbackFact], key: str) -> dict[str, list[CallbackFact]]:
    out: dict[str, list[CallbackFact]] = {}
    for cb in callbacks:
        out.setdefault(getattr(cb, key) or "unassigned", []).append(cb)
    return out


def service_tables(inp: ReportInputs) -> list[Dataset]:
    by_tier = _group(inp.facts.callbacks, "tier")
    tiers = {t.value: by_tier.get(t.value, []) for t in Tier} | {
        k: v for k, v in by_tier.items() if k not in TIER_RANK
    }
    advisors = dict(sorted(_group(inp.facts.callbacks, "advisor_id").items()))
    end = inp.period.before()
    served = Counter(c.tier for c in inp.facts.clients if c.served_at(end))
    moves = Counter(inp.tier_changes)
    return [
        _completion("callbacks_by_tier", "tier", tiers, inp),
        _completion("callbacks_by_advisor", "advisor_id", advisors, inp),
        Dataset(
            "tier_distribution",
            ("tier", "clients"),
            [(t.value, served.get(t.value, 0)) for t in Tier],
        ),
        Dataset(
            "tier_movements",
            ("from_tier", "to_tier", "direction", "clients"),
            [
                (old, new, "up" if TIER_RANK.get(new, 0) > TIER_RANK.get(old, 0) else "down", n)
                for (old, new), n in sorted(moves.items())
            ],
        ),
    ]


def appraisal_tables(inp: ReportInputs) -> list[Dataset]:
    scores = Dataset(
        "kpi_scores",
        ("scope", "scope_id", *SCORED, "quantitative_score", "coverage", "band"),
        [
            (
                c.scope, c.scope_id, *(c.metrics.get(k) for k in SCORED),
                c.appraisal.quantitative, c.appraisal.coverage, c.appraisal.band,
            )
            for c in inp.cards
        ],
    )  # fmt: skip
    firm = inp.cards[0].metrics
    summary = Dataset(
        "kpi_summary",
        ("metric", "value"),
        [(k, v) for k, v in firm.items() if not isinstance(v, dict)],
    )
    measures = Dataset(
        "improvement_measures",
        ("measure_id", "cause", "category", "measure", "owner", "due", "status", "done_at"),
        [
            (
                m["measure_id"], m["cause"], m["category"], m["measure"], m["owner"], m["due"],
                "overdue" if m["status"] == "open" and m["due"] < inp.today else m["status"],
                _local(m["done_at"], inp.policy),
            )
            for m in inp.measures
        ],
    )  # fmt: skip
    return [summary, scores, measures]


def regulator_tables(
    facts: Sequence[RegulatoryFact], period: ReportingPeriod, policy: Policy
) -> list[Dataset]:
    """The regulator's return (`domain.regulatory`), and the complaints it counts, each with its
    regulatory category and reportable flag, so every figure can be traced to its complaints."""
    rows = regulator_return(facts, period.start, period.end, policy.complaints.satisfied_at)
    summary = Dataset(
        "regulator_return",
        ("dimension", "value", *RETURN_COLUMNS),
        [
            (
                r.dimension, r.value, f.received, f.closed, f.closed_within_15d,
                f.closed_within_30d, f.extended, f.overdue, f.withdrawn, f.rated, f.satisfied,
                None if f.satisfaction_mean is None else round(f.satisfaction_mean, 2),
                f.compensated, f.compensation_total,
            )
            for r in rows
            for f in (r.figures,)
        ],
    )  # fmt: skip
    cases = Dataset(
        "regulator_complaints",
        (
            "complaint_id", "regulatory_category", "reportable", "category", "root_cause",
            "channel", "department", "stage", "received_at", "decided_at", "days_to_decision",
            "extensions", "overdue", "satisfaction", "compensation",
        ),
        [
            (
                f.complaint_id, f.regulatory_category.value, f.reportable, f.category,
                f.root_cause, f.channel, f.department, f.stage, _local(f.received_at, policy),
                _local(f.resolved_at, policy),
                None if f.resolved_at is None
                else round((f.resolved_at - f.received_at) / timedelta(days=1), 2),
                f.extensions, f.sla_breached, f.satisfaction, f.compensation,
            )
            for f in facts
        ],
    )  # fmt: skip
    return [summary, cases]


def build_datasets(inp: ReportInputs) -> dict[str, Dataset]:
    tables = [
        *complaint_tables(inp), trend_table(inp), *service_tables(inp), *appraisal_tables(inp),
        *regulator_tables(inp.regulatory, inp.period, inp.policy),
    ]  # fmt: skip
    return {t.name: t for t in tables}
