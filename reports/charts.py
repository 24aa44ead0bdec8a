"""Charts drawn from the report's datasets, as base64 PNG for embedding in one HTML file.

`matplotlib.figure.Figure` is used directly, never `pyplot`: no global figure state and no GUI
backend, so charts render the same headless, in threads, and in tests.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from domain.policy import Policy
from reports.datasets import Dataset

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


def _nothing(ax: Axes) -> None:
    """An empty period still gets its chart, saying so, rather than a gap in the report."""
    ax.text(0.5, 0.5, "no data in this period", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _bars(
    labels: Sequence[object],
    values: Sequence[float],
    ylabel: str,
    colors: Sequence[str] | str = NEUTRAL,
    percent: bool = False,
) -> Callable[[Axes], None]:
    def paint(ax: Axes) -> None:
        # A share of 0 % is a finding; a count of zero everywhere is an empty period.
        if not labels or (not percent and not any(values)):
            _nothing(ax)
            return
        bars = ax.bar([str(label) for label in labels], values, color=colors)
        ax.bar_label(bars, fmt="%.0f %%" if percent else "%g", fontsize=7)
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 110 if percent else max(values) * 1.15)
        ax.tick_params(axis="x", labelrotation=30 if len(labels) > 6 else 0, labelsize=8)

    return paint


def _pct(values: Sequence[float | None]) -> list[float]:
    return [0.0 if v is None else 100 * v for v in values]


def count_chart(ds: Dataset, key: str, value: str = "complaints") -> Chart:
    return _draw(ds.name, ds.title, _bars(ds.column(key), ds.column(value), value))


def resolution_chart(ds: Dataset, policy: Policy) -> Chart:
    days = ds.column("days_to_decision")
    standard = policy.complaints.decision_within.approx() / timedelta(days=1)
    complex_ = policy.complaints.decision_within_complex.approx() / timedelta(days=1)

    def paint(ax: Axes) -> None:
        if not days:
            _nothing(ax)
            return
        top = max([*days, complex_]) + 1
        ax.hist(days, bins=range(0, math.ceil(top) + 1), color=NEUTRAL)
        ax.axvline(standard, color=BAD, linestyle="--", label=f"deadline {standard:g} days")
        ax.axvline(complex_, color=ACCENT, linestyle=":", label=f"complex {complex_:g} days")
        ax.set_xlabel("days from receipt to decision")
        ax.set_ylabel("complaints")
        ax.legend(fontsize=8)

    return _draw(ds.name, f"{ds.title}, against the deadline", paint)


def ratio_chart(ds: Dataset, key: str, share: str, ylabel: str) -> Chart:
    """A share per group, drawn only for groups that had something due."""
    rows = [
        (k, v)
        for k, due, v in zip(ds.column(key), ds.column("due"), ds.column(share), strict=True)
        if due
    ]
    labels, values = [k for k, _ in rows], _pct([v for _, v in rows])
    colors = [GOOD if v >= 90 else ACCENT if v >= 60 else BAD for v in values]
    return _draw(ds.name, ds.title, _bars(labels, values, ylabel, colors, percent=True))


def trend_chart(ds: Dataset) -> Chart:
    months = ds.column("month")
    series = {
        "CSAT (callbacks)": ds.column("csat"),
        "complaint handling": ds.column("complaint_satisfaction"),
    }

    def paint(ax: Axes) -> None:
        if all(v is None for values in series.values() for v in values):
            _nothing(ax)
            return
        for label, values in series.items():
            ax.plot(
                months,
                [math.nan if v is None else 100 * v for v in values],
                marker="o",
                label=label,
            )
        ax.set_ylim(0, 105)
        ax.set_ylabel("% satisfied (4–5 of 5)")
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        ax.legend(fontsize=8)

    return _draw(ds.name, ds.title, paint)


def movements_chart(ds: Dataset) -> Chart:
    labels = [f"{a}→{b}" for a, b in zip(ds.column("from_tier"), ds.column("to_tier"), strict=True)]
    colors = [GOOD if d == "up" else BAD for d in ds.column("direction")]
    return _draw(ds.name, ds.title, _bars(labels, ds.column("clients"), "clients", colors))


def scores_chart(ds: Dataset, policy: Policy) -> Chart:
    rows = [
        (f"{s} {i}", v)
        for s, i, v in zip(
            ds.column("scope"), ds.column("scope_id"), ds.column("quantitative_score"), strict=True
        )
        if s != "firm" and v is not None
    ]
    bands = policy.appraisal

    def paint(ax: Axes) -> None:
        if not rows:
            _nothing(ax)
            return
        values = [v for _, v in rows]
        colors = [
            GOOD if v >= bands.reward_at else BAD if v < bands.deduct_below else NEUTRAL
            for v in values
        ]
        ax.barh([k for k, _ in rows], values, color=colors)
        ax.axvline(bands.deduct_below, color=BAD, linestyle="--", label="deduction below")
        ax.axvline(bands.reward_at, color=GOOD, linestyle="--", label="reward from")
        ax.set_xlim(0, 100)
        ax.invert_yaxis()
        ax.set_xlabel("quantitative score (0–100)")
        ax.legend(fontsize=8, loc="lower right")

    return _draw(
        "appraisal_scores",
        "Quantitative appraisal per advisor and department",
        paint,
        height=max(3.0, 0.4 * len(rows) + 1.5),
    )


def build_charts(data: dict[str, Dataset], policy: Policy) -> list[Callable[[], Chart]]:
    """One thunk per chart, in report order, so a caller can show progress between them."""
    return [
        lambda: count_chart(data["complaints_by_category"], "category"),
        lambda: count_chart(data["complaints_by_cause"], "root_cause"),
        lambda: count_chart(data["complaints_by_channel"], "channel"),
        lambda: count_chart(data["complaints_by_hour"], "hour"),
        lambda: count_chart(data["complaints_by_weekday"], "weekday"),
        lambda: resolution_chart(data["resolution_times"], policy),
        lambda: ratio_chart(
            data["deadline_compliance"], "department", "compliance", "% decided by the deadline"
        ),
        lambda: trend_chart(data["satisfaction_trend"]),
        lambda: ratio_chart(data["callbacks_by_tier"], "tier", "completion", "% done on time"),
        lambda: ratio_chart(
            data["callbacks_by_advisor"], "advisor_id", "completion", "% done on time"
        ),
        lambda: count_chart(data["tier_distribution"], "tier", "clients"),
        lambda: movements_chart(data["tier_movements"]),
        lambda: scores_chart(data["kpi_scores"], policy),
    ]
