"""Birthday and holiday greetings: at the contact hour, local time, on the day itself, each
client at an offset of its own within `service.greeting_spread` (`domain.jitter`), so the five
holidays a year do not wake the whole book in one minute.

A greeting whose hour has passed is still due (at `now`) for the rest of its local day, so a
worker that was down at 10:00 still greets at 10:05; a day late it is dropped, since a late
birthday greeting is worse than none.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from domain.holiday_dates import HolidayTable
from domain.jitter import client_offset
from domain.localtime import local_date, to_utc
from domain.policy import Policy
from domain.service_events import ServiceEvent, ServiceEventKind


def birthdays(
    birth_date: date | None, now: datetime, last_year: int, policy: Policy, client_id: str = ""
) -> Iterator[ServiceEvent]:
    if birth_date is None:
        return
    for year in range(local_date(now, policy.zone()).year, last_year + 1):
        day = anniversary(birth_date, year)
        kind = ServiceEventKind.BIRTHDAY_GREETING
        event = _greeting(kind, day, f"{year}", now, policy, client_id)
        if event is not None:
            yield event


def holiday_greetings(
    table: HolidayTable, now: datetime, last_year: int, policy: Policy, client_id: str = ""
) -> Iterator[ServiceEvent]:
    for year in range(local_date(now, policy.zone()).year, last_year + 1):
        days = table.for_year(year)
        for name, day in sorted(days.items(), key=lambda item: (item[1], item[0])):
            kind = ServiceEventKind.HOLIDAY_GREETING
            event = _greeting(kind, day, f"{name}:{year}", now, policy, client_id)
            if event is not None:
                yield event


def anniversary(birth_date: date, year: int) -> date:
    """The birthday in `year`; 29 February falls on 28 February in a common year."""
    try:
        return birth_date.replace(year=year)
    except ValueError:
        return date(year, 2, 28)


def _greeting(
    kind: ServiceEventKind, day: date, suffix: str, now: datetime, policy: Policy, client_id: str
) -> ServiceEvent | None:
    zone = policy.zone()
    at = to_utc(day, time(hour=policy.service.contact_hour), zone)
    if (spread := policy.service.greeting_spread) is not None:
        at += client_offset(client_id, spread)
    day_over = to_utc(day + timedelta(days=1), time(), zone)
    if now >= day_over:
        return None
    return ServiceEvent(kind=kind, due_at=max(at, now), key=f"{kind.value}:{suffix}")
