"""Complaint analysis (投诉分析, DOMAIN §6): what clients complain about, why, how, and when.

Peaks are read in the firm's time zone: a complaint at 01:30 UTC is a 09:30 complaint in
Shanghai, and staffing the hotline is decided in local hours.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import tzinfo

from domain.kpi import ComplaintFact

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
UNASSESSED = "unassessed"  # no category yet: still waiting for assessment
UNKNOWN_CAUSE = "unknown"  # investigation has not named a root cause (yet)


@dataclass(frozen=True)
class ComplaintAnalysis:
    total: int
    by_category: dict[str, int]
    by_cause: dict[str, int]
    by_channel: dict[str, int]
    by_hour: tuple[int, ...]  # 24 counts, local hour 0–23
    by_weekday: tuple[int, ...]  # 7 counts, Monday first
    by_month: tuple[int, ...]  # 12 counts, January first

    @property
    def peak_hour(self) -> int | None:
        return _peak(self.by_hour)

    @property
    def peak_weekday(self) -> str | None:
        index = _peak(self.by_weekday)
        return None if index is None else WEEKDAYS[index]

    @property
    def peak_month(self) -> int | None:
        index = _peak(self.by_month)
        return None if index is None else index + 1

    def as_json(self) -> dict[str, object]:
        return {
            "total": self.total,
            "by_category": self.by_category,
            "by_cause": self.by_cause,
            "by_channel": self.by_channel,
            "by_hour": list(self.by_hour),
            "by_weekday": dict(zip(WEEKDAYS, self.by_weekday, strict=True)),
            "by_month": list(self.by_month),
            "peak_hour": self.peak_hour,
            "peak_weekday": self.peak_weekday,
            "peak_month": self.peak_month,
        }


def _peak(counts: Sequence[int]) -> int | None:
    """Index of the largest count, the earliest on a tie; None when nothing was counted."""
    if not any(counts):
        return None
    return max(range(len(counts)), key=lambda i: (counts[i], -i))


def _ranked(counter: Counter[str]) -> dict[str, int]:
    """Most frequent first, ties by name, so the same data always reads the same way."""
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def analyse_complaints(complaints: Iterable[ComplaintFact], zone: tzinfo) -> ComplaintAnalysis:
    """Counts by category, root cause, channel, and by local hour, weekday and month of receipt.

    Pass the complaints received in the period under study; withdrawn ones are included, since
    a withdrawn complaint was still a client's complaint.
    """
    categories: Counter[str] = Counter()
    causes: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    hours, weekdays, months = [0] * 24, [0] * 7, [0] * 12
    total = 0
    for c in complaints:
        total += 1
        categories[c.category or UNASSESSED] += 1
        causes[c.root_cause or UNKNOWN_CAUSE] += 1
        channels[c.channel] += 1
        local = c.received_at.astimezone(zone)
        hours[local.hour] += 1
        weekdays[local.weekday()] += 1
        months[local.month - 1] += 1
    return ComplaintAnalysis(
        total=total,
        by_category=_ranked(categories),
        by_cause=_ranked(causes),
        by_channel=_ranked(channels),
        by_hour=tuple(hours),
        by_weekday=tuple(weekdays),
        by_month=tuple(months),
    )
