"""Charts drawn from the report's datasets, as base64 PNG for embedding in one HTML file.

`matplotlib.figure.Figure` is used directly, never `pyplot`: no global figure state and no GUI
backend, so charts render the same headless, in threads, and in tests.

Their words come from the report's catalogue (`reports.i18n`). Chinese needs a CJK font, which a
fresh machine lacks and nothing may download at run time, so Noto Sans SC ships in the lock
(package `pylopdf-fonts-zh-cn`, SIL OFL 1.1) and is registered here once, as the fallback after
matplotlib's DejaVu Sans: DejaVu draws every Latin glyph (an English chart is what it was), Noto
Sans SC each glyph DejaVu lacks. The PNG keeps the text as pixels, so the page looks the same on
a reader's machine without the font.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import matplotlib
import pylopdf_fonts_zh_cn
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from domain.policy import Policy
from reports.datasets import Dataset
from reports.i18n import Words

CJK_FONT = pylopdf_fonts_zh_cn.sans_path()
font_manager.fontManager.addfont(str(CJK_FONT))
CJK_FAMILY = FontProperties(fname=CJK_FONT).get_name()  # "Noto Sans SC"
# Set once at import, never per chart: rcParams are process-wide and charts draw in threads.
matplotlib.rcParams["font.family"] = ["DejaVu Sans", CJK_FAMILY]

GOOD, BAD, NEUTRAL, ACCENT = "#2e7d32", "#c62828", "#1565c0", "#ef6c00"


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    png_base64: str


def _draw(name: str, title: str, paint: Callable[[Axes], None], height: float = 3.4) -> Chart:
    fig = Figure(figsize=(7.5, height), layout="constrained")
    ax = fig.subplots()
    ax.set_title(title)
    paint(ax)
    buffer = io.BytesIO()
    # No timestamp or version in the PNG: the same data gives the same bytes.
    fig.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    return Chart(name, title, base64.b64encode(buffer.getvalue()).decode("ascii"))


def _nothing(ax: Axes, w: Words) -> None:
    """An empty period still gets its chart, saying so, rather than a gap in the report."""
    ax.text(0.5, 0.5, w("chart.no_data"), ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _bars(
    w: Words,
    labels: Sequence[object],
    values: Sequence[float],
    ylabel: str,
    colors: Sequence[str] | str = NEUTRAL,
    percent: bool = False,
) -> Callable[[Axes], None]:
    def paint(ax: Axes) -> None:
        # A share of 0 % is a finding; a count of zero everywhere is an empty period.
        if not labels or (not percent and not any(values)):
            _nothing(ax, w)
            return
        bars = ax.bar([w.code(label) for label in labels], values, color=colors)
        ax.bar_label(bars, fmt="%.0f %%" if percent else "%g", fontsize=7)
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 110 if percent else max(values) * 1.15)
        ax.tick_params(axis="x", labelrotation=30 if len(labels) > 6 else 0, labelsize=8)

    return paint


def _pct(values: Sequence[float | None]) -> list[float]:
    return [0.0 if v is None else 100 * v for v in values]


def count_chart(w: Words, ds: Dataset, key: str, value: str = "complaints") -> Chart:
    paint = _bars(w, ds.column(key), ds.column(value), w(f"chart.{value}"))
    return _draw(ds.name, w(f"title.{ds.name}"), paint)


def resolution_chart(w: Words, ds: Dataset, policy: Policy) -> Chart:
    days = ds.column("days_to_decision")
    standard = policy.complaints.decision_within.approx() / timedelta(days=1)
    complex_ = policy.complaints.decision_within_complex.approx() / timedelta(days=1)

    def paint(ax: Axes) -> None:
        if not days:
            _nothing(ax, w)
            return
        top = max([*days, complex_]) + 1
        ax.hist(days, bins=range(0, math.ceil(top) + 1), color=NEUTRAL)
        deadline = w("chart.deadline", days=f"{standard:g}")
        ax.axvline(standard, color=BAD, linestyle="--", label=deadline)
        complex_label = w("chart.deadline_complex", days=f"{complex_:g}")
        ax.axvline(complex_, color=ACCENT, linestyle=":", label=complex_label)
        ax.set_xlabel(w("chart.days_to_decision"))
        ax.set_ylabel(w("chart.complaints"))
        ax.legend(fontsize=8)

    title = w("chart.resolution_times", title=w(f"title.{ds.name}"))
    return _draw(ds.name, title, paint)


def ratio_chart(w: Words, ds: Dataset, key: str, share: str, ylabel: str) -> Chart:
    """A share per group, drawn only for groups that had something due."""
    rows = [
        (k, v)
        for k, due, v in zip(ds.column(key), ds.column("due"), ds.column(share), strict=True)
        if due
    ]
    labels, values = [k for k, _ in rows], _pct([v for _, v in rows])
    colors = [GOOD if v >= 90 else ACCENT if v >= 60 else BAD for v in values]
    paint = _bars(w, labels, values, w(ylabel), colors, percent=True)
    return _draw(ds.name, w(f"title.{ds.name}"), paint)


def trend_chart(w: Words, ds: Dataset) -> Chart:
    months = ds.column("month")
    series = {
        w("chart.series_csat"): ds.column("csat"),
        w("chart.series_complaints"): ds.column("complaint_satisfaction"),
    }

    def paint(ax: Axes) -> None:
        if all(v is None for values in series.values() for v in values):
            _nothing(ax, w)
            return
        for label, values in series.items():
            ax.plot(
                months,
                [math.nan if v is None else 100 * v for v in values],
                marker="o",
                label=label,
            )
        ax.set_ylim(0, 105)
        ax.set_ylabel(w("chart.share_satisfied"))
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        ax.legend(fontsize=8)

    return _draw(ds.name, w(f"title.{ds.name}"), paint)


def movements_chart(w: Words, ds: Dataset) -> Chart:
    labels = [
        f"{w.code(a)}→{w.code(b)}"
        for a, b in zip(ds.column("from_tier"), ds.column("to_tier"), strict=True)
    ]
    colors = [GOOD if d == "up" else BAD for d in ds.column("direction")]
    paint = _bars(w, labels, ds.column("clients"), w("chart.clients"), colors)
    return _draw(ds.name, w(f"title.{ds.name}"), paint)


def scores_chart(w: Words, ds: Dataset, policy: Policy) -> Chart:
    rows = [
        (w("chart.scope", scope=w.code(s), scope_id=w.code(i)), v)
        for s, i, v in zip(
            ds.column("scope"), ds.column("scope_id"), ds.column("quantitative_score"), strict=True
        )
        if s != "firm" and v is not None
    ]
    bands = policy.appraisal

    def paint(ax: Axes) -> None:
        if not rows:
            _nothing(ax, w)
            return
        values = [v for _, v in rows]
        colors = [
            GOOD if v >= bands.reward_at else BAD if v < bands.deduct_below else NEUTRAL
            for v in values
        ]
        ax.barh([k for k, _ in rows], values, color=colors)
        ax.axvline(bands.deduct_below, color=BAD, linestyle="--", label=w("chart.deduction_below"))
        ax.axvline(bands.reward_at, color=GOOD, linestyle="--", label=w("chart.reward_from"))
        ax.set_xlim(0, 100)
        ax.invert_yaxis()
        ax.set_xlabel(w("chart.score_axis"))
        ax.legend(fontsize=8, loc="lower right")

    return _draw(
        "appraisal_scores",
        w("chart.appraisal_scores"),
        paint,
        height=max(3.0, 0.4 * len(rows) + 1.5),
    )


def build_charts(data: dict[str, Dataset], policy: Policy, w: Words) -> list[Callable[[], Chart]]:
    """One thunk per chart, in report order, so a caller can show progress between them."""
    on_time = "chart.share_on_time"
    return [
        lambda: count_chart(w, data["complaints_by_category"], "category"),
        lambda: count_chart(w, data["complaints_by_cause"], "root_cause"),
        lambda: count_chart(w, data["complaints_by_channel"], "channel"),
        lambda: count_chart(w, data["complaints_by_hour"], "hour"),
        lambda: count_chart(w, data["complaints_by_weekday"], "weekday"),
        lambda: resolution_chart(w, data["resolution_times"], policy),
        lambda: ratio_chart(
            w, data["deadline_compliance"], "department", "compliance", "chart.share_decided"
        ),
        lambda: trend_chart(w, data["satisfaction_trend"]),
        lambda: ratio_chart(w, data["callbacks_by_tier"], "tier", "completion", on_time),
        lambda: ratio_chart(w, data["callbacks_by_advisor"], "advisor_id", "completion", on_time),
        lambda: count_chart(w, data["tier_distribution"], "tier", "clients"),
        lambda: movements_chart(w, data["tier_movements"]),
        lambda: scores_chart(w, data["kpi_scores"], policy),
    ]
