"""Local wall time in the policy's zone, without ever handing the zone to `datetime` as tzinfo.

Inside Temporal's workflow sandbox `ZoneInfo(...)` comes back wrapped in a proxy that `datetime`
refuses as a tzinfo ("tzinfo argument must be None or of a tzinfo subclass"), yet the proxy still
answers `utcoffset(wall_time)`. So conversions here ask only for offsets: the same code then runs
in the sandbox, in activities and in tests.

Within an hour of a daylight-saving change a wall time may be ambiguous or missing; the first
offset wins there. The shipped zone, Asia/Shanghai, has had no such change since 1991.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo


def _offset(zone: tzinfo, wall: datetime) -> timedelta:
    return zone.utcoffset(wall) or timedelta(0)


def to_utc(day: date, at: time, zone: tzinfo) -> datetime:
    """The instant the zone's clocks show `at` on `day`."""
    wall = datetime.combine(day, at)
    return (wall - _offset(zone, wall)).replace(tzinfo=UTC)


def wall_clock(instant: datetime, zone: tzinfo) -> datetime:
    """What the zone's clocks show at `instant` (aware), as a naive wall time."""
    base = instant.astimezone(UTC).replace(tzinfo=None)
    # The offset is a function of wall time, which is what we are looking for: guess with the
    # offset at the UTC reading, then take the offset at the guess.
    guess = base + _offset(zone, base)
    return base + _offset(zone, guess)


def local_date(instant: datetime, zone: tzinfo) -> date:
    return wall_clock(instant, zone).date()


def shown(instant: datetime, zone: tzinfo, zone_name: str) -> str:
    """An instant as a person at the firm reads it: `2027-03-19 00:00 Asia/Shanghai`."""
    return f"{wall_clock(instant, zone):%Y-%m-%d %H:%M} {zone_name}"
