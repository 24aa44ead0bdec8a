"""The service calendar, rule by rule, with worked dates (Asia/Shanghai is UTC+8: a 10:00
greeting is due at 02:00 UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from pydantic import ValidationError

from domain.calendar import (
    CalendarState,
    HolidayTable,
    ServiceEvent,
    ServiceEventKind,
    greeting_years,
    next_event,
    next_events,
    prune_done_keys,
)
from domain.consent import Consents, ContactChannel, Purpose
from domain.enums import Tier
from domain.holiday_dates import HolidayTableError, holiday_table
from domain.jitter import client_offset
from domain.periods import Period
from domain.policy import HolidayPolicy, Policy, ServicePolicy

POLICY = Policy()
CARE = Consents(granted={ContactChannel.SMS: frozenset({Purpose.CARE, Purpose.SERVICE})})
SERVICE_ONLY = Consents(granted={ContactChannel.PHONE: frozenset({Purpose.SERVICE})})
CLIENT = "c-0001"
JITTER = client_offset(CLIENT, POLICY.service.callback_jitter)
K = ServiceEventKind


@cache
def table(policy: HolidayPolicy = POLICY.holidays) -> HolidayTable:
    return holiday_table(policy, 2019, 2030)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def state(**fields: Any) -> CalendarState:
    base: dict[str, Any] = {
        "client_id": CLIENT,
        "tier": Tier.DIAMOND,
        "onboarded_at": utc(2027, 1, 15, 3),
        "risk_assessed_at": utc(2027, 1, 15, 3),
        "consents": SERVICE_ONLY,
    }
    return CalendarState(**(base | fields))


def events(s: CalendarState, now: datetime, days: int = 400, **kw: Any) -> list[ServiceEvent]:
    return next_events(
        s, now, kw.pop("policy", POLICY), timedelta(days=days), holiday_table=table(), **kw
    )


def of(kind: ServiceEventKind, found: list[ServiceEvent]) -> list[ServiceEvent]:
    return [e for e in found if e.kind is kind]


# --- callbacks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "first"),
    [
        (Tier.DIAMOND, utc(2027, 2, 15, 3)),
        (Tier.PLATINUM, utc(2027, 4, 15, 3)),
        (Tier.GOLD, utc(2027, 7, 15, 3)),
        (Tier.REGULAR, utc(2028, 1, 15, 3)),
    ],
)
def test_the_first_callback_is_a_cadence_after_onboarding_plus_the_jitter(
    tier: Tier, first: datetime
) -> None:
    found = of(K.CALLBACK, events(state(tier=tier), utc(2027, 1, 15, 3)))
    assert found[0].due_at == first + JITTER


def test_after_a_callback_the_next_is_one_cadence_on_without_jitter() -> None:
    s = state(last_callback_at=utc(2027, 3, 10, 6, 30))
    assert of(K.CALLBACK, events(s, utc(2027, 3, 10, 7)))[0].due_at == utc(2027, 4, 10, 6, 30)


def test_month_ends_do_not_drift() -> None:
    s = state(last_callback_at=utc(2027, 1, 31, 2))
    found = of(K.CALLBACK, events(s, utc(2027, 1, 31, 2), days=95))
    assert [e.due_at for e in found] == [
        utc(2027, 2, 28, 2),
        utc(2027, 3, 31, 2),
        utc(2027, 4, 30, 2),
    ]


def test_an_overdue_callback_is_due_now_under_the_first_missed_slot() -> None:
    s = state(last_callback_at=utc(2027, 1, 10, 1))
    now = utc(2027, 3, 1, 12)
    found = of(K.CALLBACK, events(s, now, days=20))
    assert [(e.due_at, e.key) for e in found] == [
        (now, "callback:2027-02-10T01:00:00Z"),
        (utc(2027, 3, 10, 1), "callback:2027-03-10T01:00:00Z"),
    ]
    later = of(K.CALLBACK, events(s, utc(2027, 3, 5), days=1))
    assert later[0].key == "callback:2027-02-10T01:00:00Z"


def test_a_tier_change_re_plans_from_the_last_callback_done() -> None:
    last, now = utc(2027, 1, 10, 1), utc(2027, 3, 1)

    def first(tier: Tier) -> ServiceEvent:
        return of(K.CALLBACK, events(state(tier=tier, last_callback_at=last), now))[0]

    assert first(Tier.REGULAR).due_at == utc(2028, 1, 10, 1)
    assert first(Tier.GOLD).due_at == utc(2027, 7, 10, 1)
    assert first(Tier.PLATINUM).due_at == utc(2027, 4, 10, 1)
    assert first(Tier.DIAMOND).due_at == now  # a month was up on 10 February


def test_cadences_come_from_the_policy_even_seconds_long_ones() -> None:
    quick = {t: Period.parse("PT20S") for t in Tier}
    policy = POLICY.model_copy(update={"service": ServicePolicy(callback_every=quick)})
    s = state(last_callback_at=utc(2026, 3, 1))
    now = utc(2027, 3, 1, 0, 0, 5)  # a year of 20-second slots missed: one overdue callback
    soon = next_events(s, now, policy, timedelta(seconds=20), holiday_table=table())
    assert [e.due_at for e in of(K.CALLBACK, soon)] == [now, utc(2027, 3, 1, 0, 0, 20)]


# --- plan reviews and risk assessment ---------------------------------------------------------


def test_plan_reviews_run_from_onboarding_then_from_the_last_review() -> None:
    onboarding = of(K.PLAN_REVIEW, events(state(), utc(2027, 1, 15, 3)))
    assert onboarding[0].due_at == utc(2027, 7, 15, 3) + JITTER
    reviewed = state(last_plan_review_at=utc(2027, 2, 1, 8))
    assert of(K.PLAN_REVIEW, events(reviewed, utc(2027, 2, 2)))[0].due_at == utc(2027, 8, 1, 8)


def test_a_client_never_assessed_owes_an_assessment_at_once_and_only_one() -> None:
    now = utc(2027, 1, 15, 3)
    found = of(K.RISK_ASSESSMENT, events(state(risk_assessed_at=None), now, days=1000))
    assert [(e.due_at, e.key) for e in found] == [(now, "risk_assessment:initial")]


def test_an_assessment_is_due_again_when_it_lapses() -> None:
    found = of(K.RISK_ASSESSMENT, events(state(risk_assessed_at=utc(2026, 6, 1)), utc(2027, 1, 15)))
    assert found[0].due_at == utc(2027, 6, 1)
    stale = state(risk_assessed_at=utc(2025, 1, 1))
    now = utc(2027, 3, 1)
    overdue = of(K.RISK_ASSESSMENT, events(stale, now))[0]
    assert (overdue.due_at, overdue.key) == (now, "risk_assessment:2026-01-01T00:00:00Z")


# --- greetings --------------------------------------------------------------------------------


def test_birthdays_at_the_contact_hour_local_and_29_february_in_common_years() -> None:
    s = state(birth_date=date(1980, 2, 29), consents=CARE)
    found = of(K.BIRTHDAY_GREETING, events(s, utc(2027, 1, 15, 3), days=500))
    assert [(e.due_at, e.key) for e in found] == [
        (utc(2027, 2, 28, 2), "birthday_greeting:2027"),
        (utc(2028, 2, 29, 2), "birthday_greeting:2028"),
    ]


def test_a_greeting_missed_at_its_hour_is_due_now_that_day_and_dropped_the_next() -> None:
    s = state(birth_date=date(1990, 6, 1), consents=CARE)
    that_evening = utc(2027, 6, 1, 12)  # 20:00 in Shanghai
    assert of(K.BIRTHDAY_GREETING, events(s, that_evening))[0].due_at == that_evening
    next_morning = utc(2027, 6, 1, 16)  # 00:00 on 2 June in Shanghai
    assert of(K.BIRTHDAY_GREETING, events(s, next_morning))[0].key == "birthday_greeting:2028"


def test_holiday_greetings_on_the_first_day_of_each_named_holiday() -> None:
    found = of(K.HOLIDAY_GREETING, events(state(consents=CARE), utc(2027, 1, 15), days=365))
    assert [(e.due_at, e.key) for e in found] == [
        (utc(2027, 2, 6, 2), "holiday_greeting:Chinese New Year (Spring Festival):2027"),
        (utc(2027, 6, 9, 2), "holiday_greeting:Dragon Boat Festival:2027"),
        (utc(2027, 9, 15, 2), "holiday_greeting:Mid-Autumn Festival:2027"),
        (utc(2027, 10, 1, 2), "holiday_greeting:National Day:2027"),
        (utc(2028, 1, 1, 2), "holiday_greeting:New Year's Day:2028"),
    ]


def test_contact_hour_and_time_zone_come_from_the_policy() -> None:
    policy = POLICY.model_copy(
        update={"timezone": "Europe/London", "service": ServicePolicy(contact_hour=9)}
    )
    s = state(birth_date=date(1990, 7, 1), consents=CARE)
    found = of(K.BIRTHDAY_GREETING, events(s, utc(2027, 1, 15), policy=policy))
    assert found[0].due_at == utc(2027, 7, 1, 8)  # 09:00 British Summer Time


def test_greetings_need_consent_to_care_messages_but_duties_do_not() -> None:
    found = events(state(birth_date=date(1990, 6, 1), consents=SERVICE_ONLY), utc(2027, 1, 15))
    assert not [e for e in found if e.purpose is Purpose.CARE]
    assert of(K.CALLBACK, found)


@pytest.mark.parametrize(
    "quiet",
    [{"paused": True}, {"consents": CARE.model_copy(update={"do_not_contact": True})}],
)
def test_nothing_is_due_while_paused_or_under_do_not_contact(quiet: dict[str, Any]) -> None:
    busy = {"risk_assessed_at": None, "birth_date": date(1990, 6, 1), "consents": CARE}
    s = state(**(busy | quiet))
    assert events(s, utc(2027, 1, 15)) == []
    assert next_event(s, utc(2027, 1, 15), POLICY, holiday_table=table()) is None


# --- serving ----------------------------------------------------------------------------------


def test_a_served_event_is_not_planned_again() -> None:
    s = state(risk_assessed_at=None)
    now = utc(2027, 1, 15, 3)
    first = next_event(s, now, POLICY, holiday_table=table())
    assert first is not None and first.key == "risk_assessment:initial"
    served = s.model_copy(update={"done_keys": frozenset({first.key})})
    after = next_event(served, now, POLICY, holiday_table=table())
    assert after is not None and after.kind is K.CALLBACK


def test_next_event_is_the_first_of_next_events() -> None:
    s = state(birth_date=date(1990, 3, 3), consents=CARE)
    now = utc(2027, 1, 20)
    assert next_event(s, now, POLICY, holiday_table=table()) == events(s, now)[0]


def test_simultaneous_events_come_in_kind_order() -> None:
    s = state(onboarded_at=utc(2027, 1, 1), risk_assessed_at=None, last_callback_at=utc(2026, 1, 1))
    now = utc(2027, 1, 2)
    assert [e.kind for e in events(s, now, days=0)] == [K.CALLBACK, K.RISK_ASSESSMENT]


def test_pruning_keeps_only_keys_that_could_come_back() -> None:
    now = utc(2027, 6, 1, 12)  # the birthday, after its hour
    s = state(
        birth_date=date(1990, 6, 1),
        consents=CARE,
        last_callback_at=utc(2027, 4, 1, 1),
        done_keys=frozenset(
            {
                "birthday_greeting:2027",  # today's, served: would come back due now
                "callback:2027-05-01T01:00:00Z",  # the missed slot, served: comes back too
                "birthday_greeting:2026",  # over
                "holiday_greeting:Dragon Boat Festival:2026",  # over
            }
        ),
    )
    assert prune_done_keys(s, now, POLICY, holiday_table=table()) == {
        "birthday_greeting:2027",
        "callback:2027-05-01T01:00:00Z",
    }


# --- inputs and the holiday table -------------------------------------------------------------


def test_times_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_event(state(), datetime(2027, 1, 1), POLICY, holiday_table=table())
    with pytest.raises(ValidationError):
        state(onboarded_at=datetime(2027, 1, 1))


def test_event_times_are_utc_and_purposes_follow_the_kind() -> None:
    event = ServiceEvent(
        kind=K.CALLBACK, due_at=datetime.fromisoformat("2027-01-01T10:00+08:00"), key="k"
    )
    assert event.due_at == utc(2027, 1, 1, 2) and event.due_at.tzinfo is UTC
    assert event.purpose is Purpose.SERVICE
    assert (
        ServiceEvent(kind=K.HOLIDAY_GREETING, due_at=event.due_at, key="k").purpose is Purpose.CARE
    )


def test_without_a_table_the_holidays_are_looked_up() -> None:
    s = state(consents=CARE)
    now = utc(2027, 1, 15)
    assert next_events(s, now, POLICY, timedelta(days=60)) == events(s, now, days=60)


def test_a_table_too_short_or_for_other_holidays_is_refused() -> None:
    s = state(consents=CARE)
    short = holiday_table(POLICY.holidays, 2027, 2027)
    with pytest.raises(HolidayTableError, match="not 2028"):
        next_event(s, utc(2027, 6, 1), POLICY, holiday_table=short)
    other = holiday_table(HolidayPolicy(greet=["National Day"]), 2027, 2028)
    with pytest.raises(HolidayTableError, match="other holidays"):
        next_event(s, utc(2027, 6, 1), POLICY, holiday_table=other)


def test_greeting_years_are_this_local_year_and_the_next() -> None:
    # 31 Dec 17:00 UTC is already 1 January in Shanghai.
    assert greeting_years(utc(2027, 12, 31, 17), POLICY) == (2028, 2029)
    assert greeting_years(utc(2027, 6, 1), POLICY) == (2027, 2028)


def test_greetings_spread_over_the_window_each_client_at_its_own_fixed_minute() -> None:
    """A holiday must not wake the whole book in one minute: with a 4-hour spread, a thousand
    clients' Spring Festival greetings fall between 10:00 and 14:00 local, spread over the
    window, each at the same instant every time it is asked."""
    spread = POLICY.model_copy(
        update={"service": ServicePolicy(greeting_spread=Period.parse("PT4H"))}
    )
    ten, two = utc(2027, 2, 6, 2), utc(2027, 2, 6, 6)  # 10:00 and 14:00 in Shanghai

    def festival(client_id: str, policy: Policy) -> datetime:
        found = of(
            K.HOLIDAY_GREETING,
            events(state(client_id=client_id, consents=CARE), utc(2027, 1, 15), policy=policy),
        )
        return found[0].due_at

    due = [festival(f"c-{n:04d}", spread) for n in range(1000)]
    assert all(ten <= d < two for d in due)
    hours = {(d - ten) // timedelta(hours=1) for d in due}
    assert hours == {0, 1, 2, 3}  # every hour of the window has some
    assert len(set(due)) > 990  # all but a few at a minute of their own
    assert festival("c-0007", spread) == festival("c-0007", spread)
    assert festival("c-0007", POLICY) == ten  # no spread: all at the contact hour


def test_a_spread_running_past_midnight_is_refused() -> None:
    with pytest.raises(ValueError, match="greeting_spread"):
        ServicePolicy(contact_hour=22, greeting_spread=Period.parse("PT3H"))
