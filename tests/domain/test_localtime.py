"""Local wall time from offsets alone (the workflow sandbox refuses ZoneInfo as a tzinfo)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.localtime import local_date, to_utc, wall_clock

NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_contact_hour_in_shanghai_is_two_in_the_morning_utc() -> None:
    assert to_utc(date(2027, 2, 6), time(10), SHANGHAI) == datetime(2027, 2, 6, 2, tzinfo=UTC)


def test_the_local_date_can_be_a_day_ahead_of_utc() -> None:
    assert local_date(datetime(2027, 12, 31, 17, tzinfo=UTC), SHANGHAI) == date(2028, 1, 1)


@pytest.mark.parametrize(
    ("instant", "zone", "wall"),
    [
        # New York springs forward at 07:00 UTC on 14 March 2027: just before, it is still EST,
        # though the UTC reading taken as a wall time already falls in EDT.
        (datetime(2027, 3, 14, 6, 30), NEW_YORK, datetime(2027, 3, 14, 1, 30)),
        (datetime(2027, 3, 14, 7, 30), NEW_YORK, datetime(2027, 3, 14, 3, 30)),
        # Sydney falls back at 16:00 UTC on 3 April 2027: 02:30 happens twice.
        (datetime(2027, 4, 3, 15, 30), SYDNEY, datetime(2027, 4, 4, 2, 30)),
        (datetime(2027, 4, 3, 16, 30), SYDNEY, datetime(2027, 4, 4, 2, 30)),
    ],
)
def test_wall_clock_across_daylight_saving_changes(
    instant: datetime, zone: ZoneInfo, wall: datetime
) -> None:
    assert wall_clock(instant.replace(tzinfo=UTC), zone) == wall


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Sydney"]),
)
def test_local_time_agrees_with_zoneinfo_away_from_clock_changes(
    instant: datetime, zone_name: str
) -> None:
    zone = ZoneInfo(zone_name)
    near = [instant + timedelta(hours=h) for h in (-3, 3)]
    assume(len({n.astimezone(zone).utcoffset() for n in [*near, instant]}) == 1)
    expected = instant.astimezone(zone).replace(tzinfo=None)
    assert wall_clock(instant, zone) == expected
    assert to_utc(expected.date(), expected.time(), zone) == instant
