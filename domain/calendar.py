"""The client service calendar (DOMAIN §5): what is due for one client, and when.

Rules, all numbers from `Policy`:
- callbacks every `service.callback_every[tier]` (calendar months) from the last callback done,
  or from onboarding; plan reviews every `service.plan_review_every` from the last review, or
  from onboarding; a risk re-assessment when the questionnaire turns
  `service.risk_assessment_valid_for` old, and at once if there is none (`domain.duties`);
- a birthday greeting and a holiday greeting on the first day of each holiday in
  `holidays.greet`, at `service.contact_hour` local time, only if the client allows
  `Purpose.CARE` on some channel (`domain.greetings`);
- nothing at all while the client is paused or has asked for no contact.

Slots anchored at onboarding are shifted by the client's jitter (`domain.jitter`), to spread a
batch of onboardings over `service.callback_jitter`. Slots anchored at a done callback or review
are not: that time is already the client's own, and shifting it again would push every later
callback out by the jitter, so a monthly client would lose a callback a year. Hence a tier
change re-plans from the last callback done at the new cadence, and is due at once if that is
already overdue.

Nothing is ever due before `now`: an overdue duty is due at `now`. Events already served (their
key in `done_keys`) are not planned again.

In workflow code pass `holiday_table` (see `domain.holiday_dates`): without it the holidays are
looked up in the `holidays` package, which the workflow sandbox refuses.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import takewhile

from pydantic import AwareDatetime, BaseModel, ConfigDict

from domain.client import ClientId
from domain.consent import Consents, Purpose
from domain.duties import duty_slots, risk_assessments
from domain.enums import Tier
from domain.greetings import birthdays, holiday_greetings
from domain.holiday_dates import HolidayTable, holiday_table
from domain.jitter import client_offset
from domain.localtime import local_date
from domain.periods import Period
from domain.policy import Policy
from domain.service_events import ServiceEvent, ServiceEventKind

__all__ = [
    "CalendarState",
    "HolidayTable",
    "ServiceEvent",
    "ServiceEventKind",
    "greeting_years",
    "next_event",
    "next_events",
    "prune_done_keys",
]


class CalendarState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    client_id: ClientId
    tier: Tier
    onboarded_at: AwareDatetime
    last_callback_at: AwareDatetime | None = None
    last_plan_review_at: AwareDatetime | None = None
    risk_assessed_at: AwareDatetime | None = None  # None: never assessed, so due at once
    birth_date: date | None = None
    consents: Consents = Consents()
    paused: bool = False
    done_keys: frozenset[str] = frozenset()


def next_events(
    state: CalendarState,
    now: datetime,
    policy: Policy,
    horizon: Period | timedelta,
    *,
    holiday_table: HolidayTable | None = None,
) -> list[ServiceEvent]:
    """Every event due from `now` up to `now + horizon` inclusive, in due order.

    Later slots of a duty assume the earlier ones are done on time; recording a callback or a
    review moves the anchor, so re-plan after each.
    """
    now = _utc(now)
    until = horizon.after(now) if isinstance(horizon, Period) else now + horizon
    events: list[ServiceEvent] = []
    for stream in _streams(state, now, policy, until, holiday_table):
        for event in stream:
            if event.due_at > until:
                break
            if event.key not in state.done_keys:
                events.append(event)
    return sorted(events, key=ServiceEvent.sort_key)


def next_event(
    state: CalendarState,
    now: datetime,
    policy: Policy,
    *,
    holiday_table: HolidayTable | None = None,
) -> ServiceEvent | None:
    """The first event not yet served, however far ahead (greetings: this year or the next, so
    a `holiday_table` must cover both; see `greeting_years`)."""
    now = _utc(now)
    firsts = [
        next((e for e in stream if e.key not in state.done_keys), None)
        for stream in _streams(state, now, policy, None, holiday_table)
    ]
    return min((e for e in firsts if e is not None), key=ServiceEvent.sort_key, default=None)


def prune_done_keys(
    state: CalendarState,
    now: datetime,
    policy: Policy,
    *,
    holiday_table: HolidayTable | None = None,
) -> frozenset[str]:
    """The served keys that could still be planned again; the others may be forgotten (say, at
    continue-as-new). A served event can only come back due at `now`, never later."""
    now = _utc(now)
    live = {
        event.key
        for stream in _streams(state, now, policy, now, holiday_table)
        for event in takewhile(lambda e: e.due_at <= now, stream)
    }
    return state.done_keys & live


def greeting_years(now: datetime, policy: Policy) -> tuple[int, int]:
    """The local years `next_event` may greet in at `now`: what a holiday table must cover."""
    now = _utc(now)
    zone = policy.zone()
    return local_date(now, zone).year, local_date(_a_year_after(now), zone).year


def _streams(
    state: CalendarState,
    now: datetime,
    policy: Policy,
    until: datetime | None,
    table: HolidayTable | None,
) -> list[Iterator[ServiceEvent]]:
    """One stream per rule, each in due order and lazy: a PT20S test cadence costs nothing."""
    if state.paused or state.consents.do_not_contact:
        return []
    service = policy.service
    spread = client_offset(state.client_id, service.callback_jitter)
    streams = [
        duty_slots(
            ServiceEventKind.CALLBACK,
            state.last_callback_at or state.onboarded_at,
            service.callback_every[state.tier],
            timedelta(0) if state.last_callback_at else spread,
            now,
        ),
        duty_slots(
            ServiceEventKind.PLAN_REVIEW,
            state.last_plan_review_at or state.onboarded_at,
            service.plan_review_every,
            timedelta(0) if state.last_plan_review_at else spread,
            now,
        ),
        risk_assessments(state.risk_assessed_at, service.risk_assessment_valid_for, now),
    ]
    if state.consents.channels_for(Purpose.CARE):
        # Greetings recur yearly, so next year bounds the search for the first one.
        first_year = local_date(now, policy.zone()).year
        last_year = local_date(until or _a_year_after(now), policy.zone()).year
        if table is None:
            table = holiday_table(policy.holidays, first_year, last_year)
        # Checked here, not as the stream runs: a table that falls short must fail every call,
        # not only the ones that happen to read its last year.
        table.check_matches(policy.holidays)
        table.check_covers(first_year, last_year)
        streams.append(birthdays(state.birth_date, now, last_year, policy, state.client_id))
        streams.append(holiday_greetings(table, now, last_year, policy, state.client_id))
    return streams


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def _a_year_after(instant: datetime) -> datetime:
    return Period(months=12).after(instant)
