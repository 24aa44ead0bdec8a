"""The year's script: reproducible, ordered, inside the year, consistent with itself."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.kpi_period import ReportingPeriod
from simulation.plan import Step, YearPlan, plan_year, simulated_year

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 12, 1, tzinfo=ZONE)


@pytest.fixture(scope="module")
def plan() -> YearPlan:
    return plan_year(START, ZONE, clients=300, complaints=300, seed=7)


def by_target(plan: YearPlan, noun: str) -> dict[str, list[Step]]:
    out: dict[str, list[Step]] = defaultdict(list)
    for s in plan.sorted_steps():
        if s.noun == noun:
            key = "complaint_id" if noun == "complaint" else "client_id"
            out[s.target or s.body[key]].append(s)
    return out


def test_the_same_seed_gives_the_same_year_and_another_seed_another(plan: YearPlan) -> None:
    again = plan_year(START, ZONE, clients=300, complaints=300, seed=7)
    other = plan_year(START, ZONE, clients=300, complaints=300, seed=8)
    assert again.sorted_steps() == plan.sorted_steps()
    assert other.sorted_steps() != plan.sorted_steps()


def test_the_year_is_twelve_calendar_months_after_an_opening_month(plan: YearPlan) -> None:
    assert plan.year_start == datetime(2027, 1, 1, tzinfo=ZONE)
    assert plan.end == datetime(2028, 1, 1, tzinfo=ZONE)
    assert all(START <= s.at < plan.end for s in plan.steps)
    # Four in five clients are the opening book, onboarded in the first fortnight.
    opening = [at for at in plan.onboarded.values() if at < plan.year_start]
    assert len(opening) == 240
    assert max(opening) < START + timedelta(days=14)


def _days_to_try() -> list[date]:
    """The first and last day of every month of a common and a leap year: 29 February and
    31 December among them."""
    days: list[date] = []
    for year in (2026, 2028):
        for month in range(1, 13):
            first = date(year, month, 1)
            following = date(year + month // 12, month % 12 + 1, 1)
            days += [first, following - timedelta(days=1)]
    assert date(2028, 2, 29) in days and date(2026, 12, 31) in days
    return days


@pytest.mark.parametrize("today", _days_to_try(), ids=str)
@pytest.mark.parametrize("at", [time(0, 0), time(23, 59, 59)], ids=["midnight", "late"])
def test_whatever_today_is_the_year_is_a_whole_calendar_year_ahead(today: date, at: time) -> None:
    now = datetime.combine(today, at, ZONE)
    plan = plan_year(now, ZONE, clients=10, complaints=12, seed=3)
    # The next calendar year, unless its opening December has already begun.
    december_begun = today.month == 12 and now > datetime(today.year, 12, 1, tzinfo=ZONE)
    assert plan.year == today.year + (2 if december_begun else 1)
    assert plan.start == datetime(plan.year - 1, 12, 1, tzinfo=ZONE) >= now
    assert (plan.year_start, plan.end) == (
        datetime(plan.year, 1, 1, tzinfo=ZONE),
        datetime(plan.year + 1, 1, 1, tzinfo=ZONE),
    )
    period = ReportingPeriod.custom(plan.year_start, plan.end, ZONE)
    assert period.label == str(plan.year) and period == ReportingPeriod.parse(period.label, ZONE)
    assert plan.steps and all(plan.start <= s.at < plan.end for s in plan.steps)
    opened = [s.at for s in plan.steps if s.verb == "open"]
    assert len(opened) == 12 and all(plan.year_start <= at < plan.end for at in opened)


def test_the_year_is_judged_in_the_firms_time_zone_not_utc() -> None:
    # 16:30 UTC on 30 November is already 1 December 00:30 in Shanghai: December has begun.
    assert simulated_year(datetime(2026, 11, 30, 16, 30, tzinfo=UTC), ZONE) == 2028
    assert simulated_year(datetime(2026, 11, 30, 15, 59, tzinfo=UTC), ZONE) == 2027


def test_any_day_before_the_same_opening_month_gives_the_same_script() -> None:
    early = plan_year(datetime(2027, 1, 1, tzinfo=ZONE), ZONE, clients=30, complaints=30, seed=5)
    late = plan_year(datetime(2027, 11, 30, 23, tzinfo=ZONE), ZONE, 30, 30, seed=5)
    assert early.year == late.year == 2028
    assert early.sorted_steps() == late.sorted_steps()


def test_complaints_arrive_all_year_busier_on_weekdays_and_office_hours(plan: YearPlan) -> None:
    opened = [s.at.astimezone(ZONE) for s in plan.steps if s.verb == "open"]
    assert len(opened) == 300
    assert all(plan.year_start <= at < plan.end for at in opened)
    assert len({at.month for at in opened}) == 12
    weekdays = Counter(at.weekday() for at in opened)
    assert weekdays[0] > 2 * weekdays[6]  # Mondays weigh 1.4, Sundays 0.4
    office = sum(1 for at in opened if 8 <= at.hour < 18)
    assert office > len(opened) * 0.6


def test_each_complaint_runs_its_stages_in_order(plan: YearPlan) -> None:
    for complaint_id, steps in by_target(plan, "complaint").items():
        verbs = [s.verb for s in steps]
        assert verbs[0] == "open", complaint_id
        assert verbs[1:2] in (["assess"], []), complaint_id
        assert [s.at for s in steps] == sorted(s.at for s in steps)
        if "withdraw" in verbs:
            assert verbs[-1] == "withdraw" and "resolve" not in verbs
        # A follow-up under 4 reopens; the next investigation comes after it.
        for a, b in itertools.pairwise(steps):
            if a.verb == "follow-up" and a.body["satisfaction"] < 4:
                assert b.verb == "investigate", complaint_id


def test_complaints_name_clients_already_onboarded(plan: YearPlan) -> None:
    for s in plan.steps:
        if s.verb == "open":
            assert plan.onboarded[s.body["client_id"]] < s.at - timedelta(days=1)


def test_client_figures_move_only_while_the_client_is_served(plan: YearPlan) -> None:
    for client_id, steps in by_target(plan, "client").items():
        verbs = [s.verb for s in steps]
        assert verbs[0] == "onboard", client_id
        if "offboard" in verbs:
            assert verbs[-1] == "offboard", client_id
        assert verbs.count("update") >= 1 or steps[0].at > plan.end - timedelta(days=40)


def test_most_complainants_complain_once(plan: YearPlan) -> None:
    by_client = Counter(s.body["client_id"] for s in plan.steps if s.verb == "open")
    repeats = sum(n - 1 for n in by_client.values())
    assert 0.05 * 300 <= repeats <= 0.2 * 300
