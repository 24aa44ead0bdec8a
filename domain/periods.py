"""ISO 8601 durations that may hold calendar months and years (P1M, P1Y6M, PT20S).

`datetime.timedelta` cannot say "one month", yet callbacks run by calendar month, so a policy
period keeps months apart from the exact part and is added to an instant calendar-wise.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

_ISO = re.compile(
    r"^P(?!$)(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


class Period(BaseModel):
    """A calendar-aware duration: whole months plus an exact remainder."""

    model_config = ConfigDict(frozen=True)

    months: int = 0
    exact: timedelta = timedelta(0)

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _ISO.match(text.strip().upper())
        if match is None:
            raise ValueError(f"{text!r} is not an ISO 8601 duration such as P15D, P1M or PT20S")
        g = {k: v for k, v in match.groupdict().items() if v is not None}
        months = int(g.get("y", 0)) * 12 + int(g.get("mo", 0))
        exact = timedelta(
            weeks=int(g.get("w", 0)),
            days=int(g.get("d", 0)),
            hours=int(g.get("h", 0)),
            minutes=int(g.get("mi", 0)),
            seconds=float(g.get("s", 0)),
        )
        period = cls(months=months, exact=exact)
        if period.is_zero():
            raise ValueError(f"{text!r} is a zero duration")
        return period

    def is_zero(self) -> bool:
        return self.months == 0 and self.exact == timedelta(0)

    def after(self, instant: datetime, times: int = 1) -> datetime:
        """`times` periods after `instant`, month-end clamped (31 Jan + P1M = 28/29 Feb)."""
        return add_months(instant, self.months * times) + self.exact * times

    def approx(self) -> timedelta:
        """A fixed-length stand-in for comparisons and bounds (a month counted as 30 days)."""
        return timedelta(days=30 * self.months) + self.exact

    def iso(self) -> str:
        parts = "P"
        years, months = divmod(self.months, 12)
        if years:
            parts += f"{years}Y"
        if months:
            parts += f"{months}M"
        days = self.exact.days
        seconds = self.exact.seconds + self.exact.microseconds / 1e6
        if days:
            parts += f"{days}D"
        if seconds:
            h, rem = divmod(int(seconds), 3600)
            m, s = divmod(rem, 60)
            frac = seconds - int(seconds)
            parts += "T"
            if h:
                parts += f"{h}H"
            if m:
                parts += f"{m}M"
            if s or frac:
                parts += f"{s + frac:g}S"
        return parts if parts != "P" else "PT0S"

    def __str__(self) -> str:
        return self.iso()


def add_months(instant: datetime, months: int) -> datetime:
    if months == 0:
        return instant
    index = instant.year * 12 + (instant.month - 1) + months
    year, month0 = divmod(index, 12)
    day = min(instant.day, calendar.monthrange(year, month0 + 1)[1])
    return instant.replace(year=year, month=month0 + 1, day=day)


def _coerce(value: Any) -> Any:
    if isinstance(value, str):
        return Period.parse(value)
    if isinstance(value, timedelta):
        return Period(exact=value)
    return value


IsoPeriod = Annotated[Period, BeforeValidator(_coerce), PlainSerializer(lambda p: p.iso())]
"""A `Period` written in policy files and payloads as an ISO 8601 string."""
