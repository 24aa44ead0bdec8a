"""Complaint deadlines, computed from the policy in the firm's time zone.

How a period becomes a deadline (the national rule counts calendar days, a day is the firm's day):

* A *calendar* period — a whole number of days, weeks, months or years (P2D, P15D, P1M; PT48H is
  the same value as P2D) — ends at the end of the firm's local day on which it falls, i.e. at
  the local midnight that closes that day. A complaint received at 14:00 on 1 March
  (Asia/Shanghai) with 15 days to decide is due at 24:00 local on 16 March, whatever the hour it
  arrived: handlers get the whole last day, and the date a client is told ("by 16 March") is the
  one the firm keeps.
* A period with a part smaller than a day (PT20S, PT36H) is an exact duration from the instant,
  so tests can shrink 15 days to seconds.
* The acknowledgement target is always exact ("within 24 hours" is 24 hours): it is measured on
  an automatic answer, not on a day's work.

Moving a deadline (an extension) or counting back from it (the warning) shifts it by the period
calendar-wise in local time, so a deadline at local midnight stays at local midnight. Survey
reminders are shifted the same way from the moment the survey went out; the survey's time-out is a
deadline like the others. Every function returns a timezone-aware UTC datetime.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.periods import Period
from domain.policy import Policy


def is_calendar(period: Period) -> bool:
    """Whole days (or months) only: counted on the local calendar, not by the second."""
    return period.exact % timedelta(days=1) == timedelta(0)


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("deadlines are computed from timezone-aware instants only")
    return instant


def shift(instant: datetime, period: Period, zone: ZoneInfo, times: int = 1) -> datetime:
    """`instant` moved by `period` (`times` may be negative): local calendar days, or exact time."""
    _aware(instant)
    if is_calendar(period):
        # Aware arithmetic within one tzinfo keeps the wall clock: a local midnight stays one
        # across a daylight-saving change.
        return period.after(instant.astimezone(zone), times).astimezone(UTC)
    return period.after(instant.astimezone(UTC), times)


def due_after(start: datetime, period: Period, zone: ZoneInfo) -> datetime:
    """The deadline `period` after `start` (see the module's rule)."""
    _aware(start)
    if not is_calendar(period):
        return period.after(start.astimezone(UTC))
    last_day = period.after(start.astimezone(zone)).date()
    closing = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone)
    return closing.astimezone(UTC)


def acknowledgement_due(received_at: datetime, policy: Policy) -> datetime:
    return policy.complaints.acknowledge_within.after(_aware(received_at).astimezone(UTC))


def assessment_due(received_at: datetime, policy: Policy) -> datetime:
    return due_after(received_at, policy.complaints.assess_within, policy.zone())


def decision_period(policy: Policy, *, complex_case: bool) -> Period:
    rules = policy.complaints
    return rules.decision_within_complex if complex_case else rules.decision_within


def decision_due(start: datetime, policy: Policy, *, complex_case: bool = False) -> datetime:
    """The decision deadline of a decision period starting at `start` (receipt, or a reopening)."""
    return due_after(start, decision_period(policy, complex_case=complex_case), policy.zone())


def extended(deadline: datetime, policy: Policy) -> datetime:
    """The decision deadline after one approved extension."""
    return shift(deadline, policy.complaints.extension, policy.zone())


def warning_at(deadline: datetime, policy: Policy) -> datetime:
    """When the handler is warned that the decision deadline approaches."""
    return shift(deadline, policy.complaints.warn_before, policy.zone(), times=-1)


def survey_reminders_at(sent_at: datetime, policy: Policy) -> list[datetime]:
    """Reminder instants, in order, that fall before the survey expires."""
    expires = survey_expires_at(sent_at, policy)
    zone = policy.zone()
    instants = sorted(shift(sent_at, p, zone) for p in policy.complaints.survey_reminders)
    return [at for at in instants if at < expires]


def survey_expires_at(sent_at: datetime, policy: Policy) -> datetime:
    return due_after(sent_at, policy.complaints.survey_timeout, policy.zone())
