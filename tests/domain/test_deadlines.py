"""Deadlines count the firm's calendar days and end at the close of the local day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import deadlines
from domain.periods import Period
from domain.policy import ComplaintPolicy, Policy

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = Policy()


def local(*args: int, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(*args, tzinfo=zone)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("received", "due"),
    [
        # Any hour of 1 March (local) is due at the end of 16 March, local.
        (local(2027, 3, 1, 0, 0), local(2027, 3, 17)),
        (local(2027, 3, 1, 14, 0), local(2027, 3, 17)),
        (local(2027, 3, 1, 23, 59), local(2027, 3, 17)),
        # 00:10 on 2 March in Shanghai is still 1 March in UTC: the firm's day counts.
        (local(2027, 3, 2, 0, 10), local(2027, 3, 18)),
    ],
)
def test_decision_due_at_the_end_of_the_fifteenth_local_day(
    received: datetime, due: datetime
) -> None:
    result = deadlines.decision_due(received, POLICY)
    assert result == due and result.tzinfo is UTC
    assert result.isoformat().endswith("T16:00:00+00:00")


def test_complex_cases_get_thirty_days_and_one_extension_thirty_more() -> None:
    received = local(2027, 3, 1, 9, 30)
    complex_due = deadlines.decision_due(received, POLICY, complex_case=True)
    assert complex_due == local(2027, 4, 1)
    assert deadlines.extended(complex_due, POLICY) == local(2027, 5, 1)


def test_warning_and_assessment_targets() -> None:
    due = deadlines.decision_due(local(2027, 3, 1, 9, 30), POLICY)
    assert deadlines.warning_at(due, POLICY) == local(2027, 3, 14)
    assert deadlines.assessment_due(local(2027, 3, 1, 9, 30), POLICY) == local(2027, 3, 4)


def test_periods_with_a_time_part_are_exact() -> None:
    received = local(2027, 3, 1, 9, 30, 15)
    assert deadlines.acknowledgement_due(received, POLICY) == received + timedelta(hours=24)
    fast = Policy(complaints=ComplaintPolicy(decision_within="PT20S", warn_before="PT5S"))
    due = deadlines.decision_due(received, fast)
    assert due == received + timedelta(seconds=20)
    assert deadlines.warning_at(due, fast) == received + timedelta(seconds=15)


def test_calendar_days_keep_the_wall_clock_across_daylight_saving() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    policy = Policy(timezone="Europe/Berlin")
    received = local(2027, 3, 20, 10, 0, zone=berlin)  # CET, +01:00
    due = deadlines.decision_due(received, policy)
    assert due == local(2027, 4, 5, zone=berlin)  # CEST, +02:00
    assert due.isoformat() == "2027-04-04T22:00:00+00:00"
    assert deadlines.warning_at(due, policy) == local(2027, 4, 2, zone=berlin)


def test_survey_reminders_are_ordered_and_stop_at_the_timeout() -> None:
    policy = Policy(
        complaints=ComplaintPolicy(survey_reminders=["P7D", "P3D", "P20D"], survey_timeout="P14D")
    )
    sent = local(2027, 3, 1, 10, 0)
    assert deadlines.survey_reminders_at(sent, policy) == [
        local(2027, 3, 4, 10, 0),
        local(2027, 3, 8, 10, 0),
    ]
    assert deadlines.survey_expires_at(sent, policy) == local(2027, 3, 16)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        deadlines.decision_due(datetime(2027, 3, 1, 9, 0), POLICY)


zones = st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC"])
instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


@given(received=instants, days=st.integers(min_value=1, max_value=90), zone=zones)
def test_a_day_period_ends_at_local_midnight_after_its_last_day(
    received: datetime, days: int, zone: str
) -> None:
    tz = ZoneInfo(zone)
    due = deadlines.due_after(received, Period(exact=timedelta(days=days)), tz)
    assert due.tzinfo is UTC
    closing = due.astimezone(tz)
    assert (closing.hour, closing.minute, closing.second) == (0, 0, 0)
    last_day = (due - timedelta(microseconds=1)).astimezone(tz).date()
    assert last_day == received.astimezone(tz).date() + timedelta(days=days)


@given(received=instants, seconds=st.integers(min_value=1, max_value=10**7), zone=zones)
def test_an_exact_period_is_exact(received: datetime, seconds: int, zone: str) -> None:
    period = Period(exact=timedelta(seconds=seconds))
    if deadlines.is_calendar(period):
        return  # a whole number of days: the calendar rule above
    assert deadlines.due_after(received, period, ZoneInfo(zone)) - received == period.exact
