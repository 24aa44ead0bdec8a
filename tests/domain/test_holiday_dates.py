"""Greeting days from the `holidays` package's China calendar, and the table that carries them."""

from __future__ import annotations

from datetime import date

import pytest

from domain.holiday_dates import (
    HolidayTableError,
    first_days,
    holiday_table,
    normalise,
    unknown_names,
)
from domain.policy import HolidayPolicy


def test_each_default_holiday_is_greeted_on_its_first_day() -> None:
    days = first_days(HolidayPolicy().greet, 2027, "CN")
    assert days == {
        "New Year's Day": date(2027, 1, 1),
        # Not New Year's Eve (5 Feb), nor the 7th-8th, nor the "(observed)" 9th-10th.
        "Chinese New Year (Spring Festival)": date(2027, 2, 6),
        "Dragon Boat Festival": date(2027, 6, 9),
        "Mid-Autumn Festival": date(2027, 9, 15),
        "National Day": date(2027, 10, 1),
    }


@pytest.mark.parametrize(
    "name",
    [
        "Spring Festival",
        "chinese new year",
        "CHINESE NEW YEAR（SPRING FESTIVAL）",
        "  Chinese   New Year (Spring Festival) ",
        "春节",
    ],
)
def test_names_match_forgivingly_and_in_chinese(name: str) -> None:
    assert first_days([name], 2027, "CN") == {name: date(2027, 2, 6)}


def test_a_longer_name_is_not_taken_for_a_shorter_one() -> None:
    assert first_days(["Chinese New Year's Eve"], 2027, "CN") == {
        "Chinese New Year's Eve": date(2027, 2, 5)
    }


def test_two_holidays_on_one_date_are_both_found() -> None:
    # In 2020 Mid-Autumn fell on National Day: the package lists "Mid-Autumn Festival; National
    # Day" under 1 October.
    days = first_days(["Mid-Autumn Festival", "National Day", "中秋节"], 2020, "CN")
    assert set(days.values()) == {date(2020, 10, 1)} and len(days) == 3


def test_observed_days_are_never_a_greeting_day() -> None:
    # 2025: Dragon Boat Festival on Saturday 31 May, "(observed)" on Monday 2 June.
    assert first_days(["Dragon Boat Festival"], 2025, "CN") == {
        "Dragon Boat Festival": date(2025, 5, 31)
    }
    assert first_days(["Dragon Boat Festival (observed)"], 2025, "CN") == {}


def test_a_year_without_the_holiday_leaves_it_out() -> None:
    # The mainland calendar has Dragon Boat as a public holiday only from 2008.
    assert first_days(["Dragon Boat Festival", "National Day"], 2007, "CN") == {
        "National Day": date(2007, 10, 1)
    }


def test_unknown_names_are_reported_for_checking_a_policy() -> None:
    assert unknown_names(["National Day", "Christmas Day", "Sprng Festival"], 2027, "CN") == [
        "Christmas Day",
        "Sprng Festival",
    ]


def test_normalise_ignores_case_width_and_spacing() -> None:
    assert normalise("Chinese New Year’s Eve（ X ）") == normalise("chinese new year's eve ( x )")


def test_a_table_round_trips_through_json_and_answers_its_years() -> None:
    policy = HolidayPolicy()
    table = holiday_table(policy, 2026, 2028)
    again = type(table).model_validate_json(table.model_dump_json())
    assert again == table
    assert again.for_year(2028)["Chinese New Year (Spring Festival)"] == date(2028, 1, 26)
    again.check_matches(policy)


def test_a_table_refuses_years_it_does_not_cover() -> None:
    table = holiday_table(HolidayPolicy(), 2026, 2027)
    with pytest.raises(HolidayTableError, match="covers 2026-2027, not 2028"):
        table.for_year(2028)


def test_a_table_for_other_holidays_is_refused() -> None:
    table = holiday_table(HolidayPolicy(greet=["National Day"]), 2027, 2027)
    with pytest.raises(HolidayTableError, match="other holidays"):
        table.check_matches(HolidayPolicy())


def test_a_table_span_must_not_run_backwards() -> None:
    with pytest.raises(ValueError, match="first_year"):
        holiday_table(HolidayPolicy(), 2028, 2027)
