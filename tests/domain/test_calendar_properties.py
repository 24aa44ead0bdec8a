"""Properties of the service calendar over generated clients, times and policies."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import pairwise

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.calendar import (
    CalendarState,
    HolidayTable,
    ServiceEventKind,
    greeting_years,
    next_event,
    next_events,
)
from domain.consent import Consents, ContactChannel, Purpose
from domain.enums import Tier
from domain.holiday_dates import holiday_table
from domain.jitter import client_offset
from domain.periods import Period
from domain.policy import Policy

POLICY = Policy()
FIRST_YEAR, LAST_YEAR = 2024, 2036
SETTINGS = settings(max_examples=60, deadline=None)


@cache
def table() -> HolidayTable:
    return holiday_table(POLICY.holidays, FIRST_YEAR, LAST_YEAR)


def longest(period: Period) -> timedelta:
    """An upper bound of one period, wherever it starts: no month has more than 31 days."""
    return timedelta(days=31 * period.months) + period.exact


instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
# A leading letter: all-digit ids may look like phone or ID numbers, which are refused.
client_ids = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,23}", fullmatch=True)
consents = st.sampled_from(
    [
        Consents(),
        Consents(granted={ContactChannel.SMS: frozenset({Purpose.CARE})}),
        Consents(granted={ContactChannel.APP: frozenset({Purpose.CARE, Purpose.SERVICE})}),
    ]
)


@st.composite
def states(draw: st.DrawFn) -> tuple[CalendarState, datetime]:
    onboarded = draw(instants)
    after = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=900))
    now = onboarded + draw(after)
    assume(now.year < LAST_YEAR - 2)  # two years of greetings ahead stay inside the table

    def before_now() -> datetime | None:
        # Something done between onboarding and now, or never.
        return draw(st.none() | st.just(onboarded + (now - onboarded) * draw(st.floats(0, 1))))

    state = CalendarState(
        client_id=draw(client_ids),
        tier=draw(st.sampled_from(Tier)),
        onboarded_at=onboarded,
        last_callback_at=before_now(),
        last_plan_review_at=before_now(),
        risk_assessed_at=before_now(),
        birth_date=draw(st.none() | st.dates(date(1930, 1, 1), date(2010, 12, 31))),
        consents=draw(consents),
    )
    return state, now


@SETTINGS
@given(states(), st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))
def test_nothing_is_ever_planned_in_the_past_or_beyond_the_horizon(
    case: tuple[CalendarState, datetime], horizon: timedelta
) -> None:
    state, now = case
    found = next_events(state, now, POLICY, horizon, holiday_table=table())
    assert all(now <= e.due_at <= now + horizon for e in found)
    assert [e.due_at for e in found] == sorted(e.due_at for e in found)
    assert len({e.key for e in found}) == len(found)


@SETTINGS
@given(states())
def test_consecutive_callbacks_are_never_more_than_a_cadence_and_the_jitter_apart(
    case: tuple[CalendarState, datetime],
) -> None:
    state, now = case
    cadence = POLICY.service.callback_every[state.tier]
    bound = longest(cadence) + client_offset(state.client_id, POLICY.service.callback_jitter)
    horizon = longest(cadence) * 4
    callbacks = [
        e.due_at
        for e in next_events(state, now, POLICY, horizon, holiday_table=table())
        if e.kind is ServiceEventKind.CALLBACK
    ]
    anchor = state.last_callback_at or state.onboarded_at
    assert callbacks, "a horizon of four cadences holds a callback"
    assert callbacks[0] - max(anchor, now) <= bound
    assert all(b - a <= bound for a, b in pairwise(callbacks))


@SETTINGS
@given(
    states(),
    st.lists(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10)), min_size=12),
)
def test_a_client_called_whenever_due_is_never_skipped_a_cadence(
    case: tuple[CalendarState, datetime], delays: list[timedelta]
) -> None:
    """Follow a client for a dozen callbacks, each recorded a little after it falls due (as an
    advisor would): every gap between calls stays within one cadence of the previous call."""
    state, _ = case
    state = state.model_copy(update={"last_callback_at": None})
    cadence = POLICY.service.callback_every[state.tier]
    jitter = client_offset(state.client_id, POLICY.service.callback_jitter)
    called, now = state.onboarded_at, state.onboarded_at
    for delay in delays:
        due = next_event(
            state.model_copy(update={"consents": Consents()}),  # duties only
            now,
            POLICY,
        )
        assert due is not None
        if due.kind is not ServiceEventKind.CALLBACK:
            # Another duty first: serve it and look again.
            state = state.model_copy(update={"done_keys": state.done_keys | {due.key}})
            now = max(now, due.due_at)
            continue
        assert due.due_at - called <= longest(cadence) + jitter
        called = now = due.due_at + delay
        state = state.model_copy(update={"last_callback_at": called})


@SETTINGS
@given(states())
def test_serving_each_next_event_never_serves_a_key_twice(
    case: tuple[CalendarState, datetime],
) -> None:
    state, now = case
    first, last = greeting_years(now, POLICY)
    local = holiday_table(POLICY.holidays, first, last + 1)
    seen: set[str] = set()
    for _ in range(25):
        event = next_event(state, now, POLICY, holiday_table=local)
        assert event is not None
        assert event.key not in seen and event.due_at >= now
        seen.add(event.key)
        state = state.model_copy(update={"done_keys": state.done_keys | {event.key}})
        now = event.due_at
        if greeting_years(now, POLICY)[1] > local.last_year:
            break


@SETTINGS
@given(states())
def test_next_event_is_the_earliest_of_all_planned(case: tuple[CalendarState, datetime]) -> None:
    state, now = case
    first = next_event(state, now, POLICY, holiday_table=table())
    horizon = timedelta(days=2 * 366)
    planned = next_events(state, now, POLICY, horizon, holiday_table=table())
    assert first == (planned[0] if planned else None)


@SETTINGS
@given(states(), st.sampled_from(Tier))
def test_a_tier_change_plans_the_next_callback_from_the_last_one_done(
    case: tuple[CalendarState, datetime], tier: Tier
) -> None:
    state, now = case
    assume(state.last_callback_at is not None)
    assert state.last_callback_at is not None
    changed = state.model_copy(update={"tier": tier})
    first = next(
        e
        for e in next_events(changed, now, POLICY, timedelta(days=400), holiday_table=table())
        if e.kind is ServiceEventKind.CALLBACK
    )
    planned = POLICY.service.callback_every[tier].after(state.last_callback_at)
    assert first.due_at == max(planned, now)


# --- jitter --------------------------------------------------------------------


windows = st.sampled_from(["PT1S", "PT1H", "P3D", "P1M"]).map(Period.parse)


@settings(max_examples=200)
@given(client_ids, windows)
def test_jitter_is_bounded_whole_milliseconds_and_deterministic(
    client_id: str, window: Period
) -> None:
    offset = client_offset(client_id, window)
    assert timedelta(0) <= offset < window.approx()
    assert offset % timedelta(milliseconds=1) == timedelta(0)
    assert client_offset(client_id, window) == offset


def test_jitter_spreads_a_batch_of_clients() -> None:
    window = POLICY.service.callback_jitter
    offsets = [client_offset(f"batch-{i}", window) for i in range(2000)]
    # Two thousand clients onboarded together: nearly all land on their own second, and the
    # spread covers the window rather than a corner of it.
    assert len({o // timedelta(seconds=1) for o in offsets}) > 1980
    assert min(offsets) < window.approx() / 20 and max(offsets) > window.approx() * 19 / 20
