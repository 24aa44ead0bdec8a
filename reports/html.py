"""One self-contained HTML page: charts inline as data URIs, so the file can be mailed or
archived and still opens offline. Every value is escaped; there is no template engine. Every
word on it comes from the language's catalogue (`reports.i18n`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from html import escape
from typing import Any

from domain.kpi_period import ReportingPeriod
from domain.policy import Policy
from reports.captions import captions, percent
from reports.charts import Chart
from reports.datasets import Dataset
from reports.fonts import FAMILY, font_face
from reports.i18n import Words

SECTIONS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    # (heading's key, charts, tables) in reading order
    ("complaint_analysis", ("complaints_by_category", "complaints_by_cause",
     "complaints_by_channel", "complaints_by_hour", "complaints_by_weekday"), ()),
    ("complaint_handling", ("resolution_times", "deadline_compliance"), ("deadline_compliance",)),
    ("satisfaction", ("satisfaction_trend",), ()),
    ("callbacks", ("callbacks_by_tier", "callbacks_by_advisor"), ("callbacks_by_advisor",)),
    ("tiers", ("tier_distribution", "tier_movements"), ()),
    ("appraisal", ("appraisal_scores",), ("kpi_scores",)),
    ("improvement_measures", (), ("improvement_measures",)),
    ("regulator_return", (), ("regulator_return",)),
)  # fmt: skip

TILES = (
    ("csat", "pct"), ("nps", "num"), ("callback_completion", "pct"),
    ("deadline_compliance", "pct"), ("complaint_satisfaction", "pct"), ("retention", "pct"),
    ("aum_growth", "pct"), ("repeat_complaints", "pct"), ("complaints_received", "num"),
)  # fmt: skip
# Columns of free text or ids, shown as written; other cells holding a code (a tier, a channel,
# True) are shown in the reader's words.
VERBATIM = frozenset({"complaint_id", "measure_id", "measure", "owner"})
# Columns of timestamps in the firm's zone (`reports.datasets._local`), ISO in the CSV files.
LOCAL_TIMES = frozenset({"done_at", "received_at", "decided_at"})

# Table columns holding a ratio: shown as percentages like the tiles and charts (the CSV files
# keep the fractions, for whoever computes with them).
PERCENT_COLUMNS = frozenset({
    "compliance", "completion", "csat", "callback_completion", "deadline_compliance",
    "complaint_satisfaction", "retention", "aum_growth", "repeat_complaints", "coverage",
})  # fmt: skip

# Columns of measured values, each with one number of decimals whatever the value (4.00, 3.75).
DECIMALS = {"satisfaction_mean": 2, "quantitative_score": 1, "days_to_decision": 1}

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
header p{color:#555} h2{border-bottom:2px solid #1565c0;padding-bottom:.2rem;margin-top:2.5rem}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:.6rem}
.tile{border:1px solid #ddd;border-radius:6px;padding:.6rem}
.tile b{display:block;font-size:1.5rem} .tile span{font-size:.8rem;color:#555}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:1rem}
figure{margin:0} figure img{max-width:100%} figcaption{font-size:.85rem;color:#555}
table{border-collapse:collapse;margin:1rem 0;font-size:.85rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left} th{background:#f3f6fa}
.overdue{color:#c62828;font-weight:600} .done{color:#2e7d32} .scroll{overflow-x:auto}
table.wide{table-layout:fixed;width:100%;font-size:.75rem}
table.wide th,table.wide td{overflow-wrap:anywhere;padding:.2rem .3rem}
"""
# Tables with more columns than this are laid out to the page's width, their headers wrapping,
# rather than scrolling sideways.
WIDE_FROM = 8


def _fmt(value: Any, kind: str = "") -> str:
    if value is None:
        return "–"  # no evidence, distinct from zero
    if kind == "pct" and isinstance(value, int | float):
        return percent(value)
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def _cell(w: Words, column: str, value: Any) -> str:
    if column in DECIMALS and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.{DECIMALS[column]}f}"
    if isinstance(value, date) and not isinstance(value, datetime):
        return w.day(value)
    if column in LOCAL_TIMES and isinstance(value, str):
        return w.local_time(value)
    if isinstance(value, str | bool) and column not in VERBATIM:
        return w.code(value)
    return _fmt(value, "pct" if column in PERCENT_COLUMNS else "")


def _figure(chart: Chart, caption: str) -> str:
    return (
        f'<figure class="chart" data-chart="{escape(chart.name)}">'
        f'<img alt="{escape(chart.title)}" src="data:image/png;base64,{chart.png_base64}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _table(w: Words, ds: Dataset, title: str) -> str:
    head = "".join(f"<th>{escape(w.column(c))}</th>" for c in ds.columns)
    status = ds.columns.index("status") if "status" in ds.columns else None
    body = []
    for row in ds.rows:
        css = f' class="{escape(str(row[status]))}"' if status is not None else ""
        cells = "".join(
            f"<td>{escape(_cell(w, c, v))}</td>" for c, v in zip(ds.columns, row, strict=True)
        )
        body.append(f"<tr{css}>{cells}</tr>")
    none = escape(w("table.none"))
    rows = "".join(body) or f'<tr><td colspan="{len(ds.columns)}">{none}</td></tr>'
    wide = ' class="wide"' if len(ds.columns) > WIDE_FROM else ""
    return (
        f'<div class="scroll"><table{wide} data-table="{escape(ds.name)}">'
        f"<caption>{escape(title)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _tiles(w: Words, firm: dict[str, Any], score: float | None) -> str:
    def tile(value: str, label: str) -> str:
        return f'<div class="tile"><b>{escape(value)}</b><span>{escape(label)}</span></div>'

    tiles = [tile(_fmt(firm.get(key), kind), w(f"tile.{key}")) for key, kind in TILES]
    tiles.append(tile(_fmt(score), w("tile.firm_score")))
    return f'<div class="tiles">{"".join(tiles)}</div>'


def render(
    period: ReportingPeriod,
    policy: Policy,
    as_of: datetime,
    charts: Sequence[Chart],
    data: dict[str, Dataset],
    firm: dict[str, Any],
    firm_score: float | None,
    w: Words,
) -> str:
    zone = policy.zone()
    by_name = {c.name: c for c in charts}
    notes = captions(data, policy.appraisal.deduct_below, w)
    title = escape(w("page.title", period=period.label))
    when = w(
        "page.period",
        start=w.instant(period.start.astimezone(zone)),
        end=w.instant(period.end.astimezone(zone)),
        zone=policy.timezone,
        as_of=w.instant(as_of.astimezone(zone)),
    )
    parts = [
        f"<header><h1>{title}</h1><p>{escape(when)} {escape(w('page.no_evidence'))}</p></header>",
        _tiles(w, firm, firm_score),
    ]
    for heading, chart_names, table_names in SECTIONS:
        figures = "".join(_figure(by_name[n], notes.get(n, by_name[n].title)) for n in chart_names)
        tables = "".join(
            _table(w, data[n], w(f"title.{n}", period=period.label)) for n in table_names
        )
        parts.append(
            f"<section><h2>{escape(w(f'section.{heading}'))}</h2>"
            f'<div class="charts">{figures}</div>{tables}</section>'
        )
    body = "".join(parts)
    style = STYLE
    if w.language != "en":  # the glyphs its words need (Latin falls through to system-ui)
        style = font_face(title + body) + STYLE.replace(
            "font-family:system-ui,sans-serif", f'font-family:"{FAMILY}",system-ui,sans-serif', 1
        )
    return (
        f'<!doctype html><html lang="{escape(w.language)}"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{style}</style></head>"
        f"<body>{body}</body></html>\n"
    )
