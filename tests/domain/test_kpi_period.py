"""Reporting periods are local calendar months, quarters and years."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from domain.kpi_period import ReportingPeriod

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_a_month_starts_at_local_midnight() -> None:
    march = ReportingPeriod.parse("2027-03", SHANGHAI)
    assert march.start == datetime(2027, 2, 28, 16, tzinfo=UTC)
    assert march.end == datetime(2027, 3, 31, 16, tzinfo=UTC)


@pytest.mark.parametrize(
    ("label", "first", "last"),
    [("2027-Q1", (2027, 1, 1), (2027, 4, 1)), ("2027-Q4", (2027, 10, 1), (2028, 1, 1)),
     ("2028", (2028, 1, 1), (2029, 1, 1)), ("2028-02", (2028, 2, 1), (2028, 3, 1))],
)  # fmt: skip
def test_quarters_and_years(
    label: str, first: tuple[int, int, int], last: tuple[int, int, int]
) -> None:
    period = ReportingPeriod.parse(label, SHANGHAI)
    assert period.start == datetime(*first, tzinfo=SHANGHAI)
    assert period.end == datetime(*last, tzinfo=SHANGHAI)


@pytest.mark.parametrize("label", ["2027-13", "2027-Q5", "March", "27-03", ""])
def test_bad_labels_say_what_is_expected(label: str) -> None:
    with pytest.raises(ValueError, match=r"2027-03|01–12"):
        ReportingPeriod.parse(label, SHANGHAI)


def test_the_run_on_the_first_reports_the_month_before() -> None:
    # 03:00 on 1 April in Shanghai is still 31 March in UTC: the local calendar decides.
    fired = datetime(2027, 3, 31, 19, tzinfo=UTC)
    assert ReportingPeriod.month_before(fired, SHANGHAI).label == "2027-03"
    assert (
        ReportingPeriod.month_before(datetime(2027, 1, 5, tzinfo=UTC), SHANGHAI).label == "2026-12"
    )


def test_custom_ranges_reuse_calendar_labels_when_they_fit() -> None:
    q1 = ReportingPeriod.parse("2027-Q1", SHANGHAI)
    assert ReportingPeriod.custom(q1.start, q1.end, SHANGHAI).label == "2027-Q1"
    start = datetime(2027, 3, 5, tzinfo=SHANGHAI)
    odd = ReportingPeriod.custom(start, start + timedelta(days=14, hours=1), SHANGHAI)
    assert odd.label == "2027-03-05+15d"
    with pytest.raises(ValidationError, match="end after"):
        ReportingPeriod.custom(start, start, SHANGHAI)
