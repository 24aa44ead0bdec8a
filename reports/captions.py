"""What each chart's reader should notice, in one sentence from the chart's own table: the
title says what is drawn, the caption says what stands out (the largest group, the weakest
department, the direction of a trend), with the counts behind any percentage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reports.datasets import Dataset


def percent(value: Any) -> str:
    """The report's one format for a ratio, in tables, tiles and captions alike."""
    return "–" if value is None else f"{100 * value:.1f} %"


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({percent(part / whole)})"


def _largest(ds: Dataset, key: str, value: str, what: str) -> str:
    rows = [(k, n) for k, n in zip(ds.column(key), ds.column(value), strict=True) if n]
    if not rows:
        return f"No {what} in the period."
    total = sum(n for _, n in rows)
    most = max(n for _, n in rows)
    tops = [k for k, n in rows if n == most]
    if len(tops) > 1:  # naming one of equals would single it out for nothing
        return f"Largest, tied: {', '.join(map(str, tops))}, {most} each of {total} {what}."
    return f"Largest: {tops[0]}, {_share(most, total)} {what}."


def _peak(ds: Dataset, key: str, label: Callable[[Any], str]) -> str:
    rows = list(zip(ds.column(key), ds.column("complaints"), strict=True))
    total = sum(n for _, n in rows)
    if not total:
        return "No complaints in the period."
    top, n = max(rows, key=lambda r: r[1])
    return f"Busiest: {label(top)}, {_share(n, total)} complaints."


def _resolution(ds: Dataset) -> str:
    met = [m for m in ds.column("met_deadline") if m is not None]
    if not met:
        return "No decisions in the period."
    slowest = max(ds.column("days_to_decision"))
    met_share = _share(sum(met), len(met))
    return f"{met_share} decisions met the deadline; the slowest took {slowest:g} days."


def _weakest(ds: Dataset, key: str, hits: str, share: str, what: str) -> str:
    """The group with the lowest share among those with something due, and the firm's line."""
    rows = [
        (k, due, h, v)
        for k, due, h, v in zip(
            ds.column(key), ds.column("due"), ds.column(hits), ds.column(share), strict=True
        )
        if due and k != "all"
    ]
    if not rows:
        return f"Nothing was due in the period: no {what} to judge."
    k, due, h, v = min(rows, key=lambda r: r[3])
    firm = [r for r in ds.rows if r[0] == "all"]
    low = f"{k}, {percent(v)} ({h} of {due})"
    return f"Firm: {percent(firm[0][3])} {what}; lowest: {low}." if firm else f"Lowest: {low}."


def _trend(ds: Dataset) -> str:
    parts = []
    for column, label in (("csat", "CSAT"), ("complaint_satisfaction", "complaint handling")):
        seen = [
            (m, v)
            for m, v in zip(ds.column("month"), ds.column(column), strict=True)
            if v is not None
        ]
        if seen:
            (m0, v0), (m1, v1) = seen[0], seen[-1]
            parts.append(
                f"{label} {percent(v1)} in {m1}"
                if m0 == m1
                else f"{label} from {percent(v0)} ({m0}) to {percent(v1)} ({m1})"
            )
    return "; ".join(parts) + "." if parts else "No satisfaction answers in the last 12 months."


def _movements(ds: Dataset) -> str:
    up = sum(
        n for d, n in zip(ds.column("direction"), ds.column("clients"), strict=True) if d == "up"
    )
    down = sum(
        n for d, n in zip(ds.column("direction"), ds.column("clients"), strict=True) if d == "down"
    )
    if not up + down:
        return "No client changed tier in the period."
    return f"{up} client(s) moved up a tier, {down} down."


def _appraisal(ds: Dataset, deduct_below: float) -> str:
    rows = [
        (f"{s} {i}", v)
        for s, i, v in zip(
            ds.column("scope"), ds.column("scope_id"), ds.column("quantitative_score"), strict=True
        )
        if s != "firm" and v is not None
    ]
    if not rows:
        return "No advisor or department had evidence to score."
    low, score = min(rows, key=lambda r: r[1])
    below = sum(v < deduct_below for _, v in rows)
    line = f"below the deduction line ({deduct_below:g})"
    return f"{below} of {len(rows)} {line}; lowest: {low}, {score:g}."


def captions(data: dict[str, Dataset], deduct_below: float) -> dict[str, str]:
    """A caption per chart name (`reports.charts.build_charts`)."""
    counts = {"complaints_by_category": "category", "complaints_by_cause": "root_cause",
              "complaints_by_channel": "channel"}  # fmt: skip
    out = {
        name: _largest(data[name], key, "complaints", "complaints") for name, key in counts.items()
    }
    on_time = ("on_time", "completion", "callbacks on time")
    return out | {
        "complaints_by_hour": _peak(
            data["complaints_by_hour"], "hour", lambda h: f"{h:02d}:00–{h:02d}:59 local time"
        ),
        "complaints_by_weekday": _peak(data["complaints_by_weekday"], "weekday", str),
        "resolution_times": _resolution(data["resolution_times"]),
        "deadline_compliance": _weakest(
            data["deadline_compliance"],
            "department",
            "met",
            "compliance",
            "decided by the deadline",
        ),
        "satisfaction_trend": _trend(data["satisfaction_trend"]),
        "callbacks_by_tier": _weakest(data["callbacks_by_tier"], "tier", *on_time),
        "callbacks_by_advisor": _weakest(data["callbacks_by_advisor"], "advisor_id", *on_time),
        "tier_distribution": _largest(data["tier_distribution"], "tier", "clients", "clients"),
        "tier_movements": _movements(data["tier_movements"]),
        "appraisal_scores": _appraisal(data["kpi_scores"], deduct_below),
    }
