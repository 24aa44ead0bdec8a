"""What each chart's reader should notice, in one sentence from the chart's own table: the
title says what is drawn, the caption says what stands out (the largest group, the weakest
department, the direction of a trend), with the counts behind any percentage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reports.datasets import Dataset
from reports.i18n import Words


def percent(value: Any) -> str:
    """The report's one format for a ratio, in tables, tiles and captions alike."""
    return "–" if value is None else f"{100 * value:.1f} %"


def _share(w: Words, part: int, whole: int, unit: str) -> str:
    """`unit`: what is counted, for a language that counts with measure words (件, 位)."""
    u = w(f"unit.{unit}")
    return w("caption.share", part=part, whole=whole, unit=u, percent=percent(part / whole))


def _largest(w: Words, ds: Dataset, key: str, value: str, counted: str) -> str:
    rows = [(k, n) for k, n in zip(ds.column(key), ds.column(value), strict=True) if n]
    what, unit = w(f"what.{counted}"), w(f"unit.{counted}")
    if not rows:
        return w("caption.none", what=what)
    total = sum(n for _, n in rows)
    most = max(n for _, n in rows)
    tops = [w.code(k) for k, n in rows if n == most]
    if len(tops) > 1:  # naming one of equals would single it out for nothing
        groups = w("caption.list_separator").join(tops)
        return w(
            "caption.largest_tied", groups=groups, most=most, total=total, unit=unit, what=what
        )
    return w("caption.largest", group=tops[0], share=_share(w, most, total, counted), what=what)


def _peak(w: Words, ds: Dataset, key: str, label: Callable[[Any], str]) -> str:
    rows = list(zip(ds.column(key), ds.column("complaints"), strict=True))
    total = sum(n for _, n in rows)
    if not total:
        return w("caption.none", what=w("what.complaints"))
    top, n = max(rows, key=lambda r: r[1])
    return w("caption.busiest", group=label(top), share=_share(w, n, total, "complaints"))


def _resolution(w: Words, ds: Dataset) -> str:
    met = [m for m in ds.column("met_deadline") if m is not None]
    if not met:
        return w("caption.no_decisions")
    slowest = max(ds.column("days_to_decision"))
    met_share = _share(w, sum(met), len(met), "complaints")
    return w("caption.resolution", share=met_share, days=f"{slowest:g}")


def _weakest(w: Words, ds: Dataset, key: str, hits: str, share: str, what: str) -> str:
    """The group with the lowest share among those with something due, and the firm's line."""
    rows = [
        (k, due, h, v)
        for k, due, h, v in zip(
            ds.column(key), ds.column("due"), ds.column(hits), ds.column(share), strict=True
        )
        if due and k != "all"
    ]
    what = w(f"what.{what}")
    if not rows:
        return w("caption.nothing_due", what=what)
    k, due, h, v = min(rows, key=lambda r: r[3])
    firm = [r for r in ds.rows if r[0] == "all"]
    low = w("caption.lowest_group", group=w.code(k), percent=percent(v), hits=h, due=due)
    if firm:
        return w("caption.firm_and_lowest", percent=percent(firm[0][3]), what=what, low=low)
    return w("caption.lowest", low=low)


def _trend(w: Words, ds: Dataset) -> str:
    parts = []
    for column, label in (
        ("csat", w("caption.trend_csat")),
        ("complaint_satisfaction", w("caption.trend_complaints")),
    ):
        seen = [
            (m, v)
            for m, v in zip(ds.column("month"), ds.column(column), strict=True)
            if v is not None
        ]
        if seen:
            (m0, v0), (m1, v1) = seen[0], seen[-1]
            parts.append(
                w("caption.trend_one", label=label, percent=percent(v1), month=m1)
                if m0 == m1
                else w(
                    "caption.trend",
                    label=label,
                    first=percent(v0),
                    first_month=m0,
                    last=percent(v1),
                    last_month=m1,
                )
            )
    if not parts:
        return w("caption.no_answers")
    return w("caption.trend_end", parts=w("caption.trend_separator").join(parts))


def _movements(w: Words, ds: Dataset) -> str:
    up = sum(
        n for d, n in zip(ds.column("direction"), ds.column("clients"), strict=True) if d == "up"
    )
    down = sum(
        n for d, n in zip(ds.column("direction"), ds.column("clients"), strict=True) if d == "down"
    )
    if not up + down:
        return w("caption.no_moves")
    return w("caption.moves", up=up, down=down)


def _appraisal(w: Words, ds: Dataset, deduct_below: float) -> str:
    rows = [
        (w("chart.scope", scope=w.code(s), scope_id=w.code(i)), v)
        for s, i, v in zip(
            ds.column("scope"), ds.column("scope_id"), ds.column("quantitative_score"), strict=True
        )
        if s != "firm" and v is not None
    ]
    if not rows:
        return w("caption.no_scores")
    low, score = min(rows, key=lambda r: r[1])
    below = sum(v < deduct_below for _, v in rows)
    return w(
        "caption.appraisal",
        below=below,
        scored=len(rows),
        line=f"{deduct_below:g}",
        low=low,
        score=f"{score:g}",
    )


def captions(data: dict[str, Dataset], deduct_below: float, w: Words) -> dict[str, str]:
    """A caption per chart name (`reports.charts.build_charts`)."""
    counts = {"complaints_by_category": "category", "complaints_by_cause": "root_cause",
              "complaints_by_channel": "channel"}  # fmt: skip
    out = {
        name: _largest(w, data[name], key, "complaints", "complaints")
        for name, key in counts.items()
    }
    on_time = ("on_time", "completion", "on_time")
    return out | {
        "complaints_by_hour": _peak(
            w, data["complaints_by_hour"], "hour", lambda h: w("caption.hour", hour=h)
        ),
        "complaints_by_weekday": _peak(w, data["complaints_by_weekday"], "weekday", w.code),
        "resolution_times": _resolution(w, data["resolution_times"]),
        "deadline_compliance": _weakest(
            w, data["deadline_compliance"], "department", "met", "compliance", "decided"
        ),
        "satisfaction_trend": _trend(w, data["satisfaction_trend"]),
        "callbacks_by_tier": _weakest(w, data["callbacks_by_tier"], "tier", *on_time),
        "callbacks_by_advisor": _weakest(w, data["callbacks_by_advisor"], "advisor_id", *on_time),
        "tier_distribution": _largest(w, data["tier_distribution"], "tier", "clients", "clients"),
        "tier_movements": _movements(w, data["tier_movements"]),
        "appraisal_scores": _appraisal(w, data["kpi_scores"], deduct_below),
    }
