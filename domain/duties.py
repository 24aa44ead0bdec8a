"""Periodic service duties: callbacks, plan reviews, risk re-assessments.

A duty's slots run from its anchor, k periods on (so 31 Jan + P1M is 28 Feb and then 31 Mar,
never drifting to the 28th). Missed slots collapse into one event due at `now`, keyed by the
first missed slot so its key stays put however long it waits; later slots follow on schedule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from domain.periods import Period
from domain.service_events import ServiceEvent, ServiceEventKind

INITIAL_RISK_KEY = f"{ServiceEventKind.RISK_ASSESSMENT.value}:initial"


def duty_slots(
    kind: ServiceEventKind, anchor: datetime, every: Period, shift: timedelta, now: datetime
) -> Iterator[ServiceEvent]:
    """The duty's events from `now` on, in due order, without end."""
    if every.is_zero():
        raise ValueError(f"a {kind.value} period must not be zero")

    def slot(k: int) -> datetime:
        return every.after(anchor, k) + shift

    k = _first_slot_at_or_after(slot, now)
    if k > 1:
        yield ServiceEvent(kind=kind, due_at=now, key=slot_key(kind, slot(1)))
    while True:
        yield ServiceEvent(kind=kind, due_at=slot(k), key=slot_key(kind, slot(k)))
        k += 1


def risk_assessments(
    assessed_at: datetime | None, valid_for: Period, now: datetime
) -> Iterator[ServiceEvent]:
    """Never assessed: due at once, and nothing more until it is done. Otherwise each time the
    questionnaire turns `valid_for` old."""
    if assessed_at is None:
        yield ServiceEvent(kind=ServiceEventKind.RISK_ASSESSMENT, due_at=now, key=INITIAL_RISK_KEY)
        return
    yield from duty_slots(
        ServiceEventKind.RISK_ASSESSMENT, assessed_at, valid_for, timedelta(0), now
    )


def slot_key(kind: ServiceEventKind, planned: datetime) -> str:
    return f"{kind.value}:{planned.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def _first_slot_at_or_after(slot: Callable[[int], datetime], now: datetime) -> int:
    """The smallest k >= 1 with slot(k) >= now. Slots strictly increase with k, so a doubling
    search then bisection finds it in O(log k), even for a seconds-long test cadence anchored
    a year back."""
    if slot(1) >= now:
        return 1
    low, high = 1, 2
    while slot(high) < now:
        low, high = high, high * 2
    while high - low > 1:  # invariant: slot(low) < now <= slot(high)
        middle = (low + high) // 2
        low, high = (middle, high) if slot(middle) < now else (low, middle)
    return high
