"""Reporting periods: a label that keys `kpi_snapshots` and the instants it stands for.

Months, quarters and years begin at local midnight in the firm's time zone, not UTC: March's
report for a Shanghai firm must include a complaint received at 07:00 on 1 March local time.
Ends are exclusive.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, tzinfo

from pydantic import BaseModel, ConfigDict, model_validator

from domain.periods import add_months

_LABEL = re.compile(r"^(?P<y>\d{4})(?:-(?:(?P<m>\d{2})|Q(?P<q>[1-4])))?$")


class ReportingPeriod(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _valid(self) -> ReportingPeriod:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("period start and end must carry a time zone")
        if not self.start < self.end:
            raise ValueError("a period must end after it starts")
        if not 0 < len(self.label) <= 16:
            raise ValueError("a period label has 1–16 characters")
        return self

    @classmethod
    def parse(cls, label: str, zone: tzinfo) -> ReportingPeriod:
        """`2027-03` (month), `2027-Q1` (quarter) or `2027` (year)."""
        match = _LABEL.match(label.strip())
        if match is None:
            raise ValueError(f"{label!r} is not a period such as 2027-03, 2027-Q1 or 2027")
        year = int(match["y"])
        if match["m"]:
            month, months = int(match["m"]), 1
            if not 1 <= month <= 12:
                raise ValueError(f"{label!r}: month must be 01–12")
        elif match["q"]:
            month, months = 3 * int(match["q"]) - 2, 3
        else:
            month, months = 1, 12
        start = datetime.combine(datetime(year, month, 1).date(), time(), zone)
        return cls(label=label.strip(), start=start, end=add_months(start, months))

    @classmethod
    def custom(cls, start: datetime, end: datetime, zone: tzinfo) -> ReportingPeriod:
        """Any range; a range that is exactly a month, quarter or year gets that label."""
        local = start.astimezone(zone)
        for label in (f"{local:%Y-%m}", f"{local:%Y}-Q{(local.month + 2) // 3}", f"{local:%Y}"):
            named = cls.parse(label, zone)
            if named.start == start and named.end == end:
                return named
        days = -(-(end - start) // timedelta(days=1))  # ceiling: a partial day still shows
        return cls(label=f"{local:%Y-%m-%d}+{days}d", start=start, end=end)

    @classmethod
    def month_before(cls, instant: datetime, zone: tzinfo) -> ReportingPeriod:
        """The calendar month before the one `instant` falls in, locally: what a run on the
        1st reports on, even when the schedule fires late or catches up on a missed run."""
        local = instant.astimezone(zone)
        this_month = datetime.combine(local.date().replace(day=1), time(), zone)
        return cls.parse(f"{add_months(this_month, -1):%Y-%m}", zone)

    @classmethod
    def quarter_of(cls, instant: datetime, zone: tzinfo) -> ReportingPeriod:
        """The calendar quarter `instant` falls in, locally."""
        local = instant.astimezone(zone)
        return cls.parse(f"{local:%Y}-Q{(local.month + 2) // 3}", zone)

    def before(self) -> datetime:
        """The last instant inside the period (ends are exclusive)."""
        return self.end - timedelta(microseconds=1)
