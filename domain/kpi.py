"""Client-care KPIs (DOMAIN §7) as pure functions of plain facts read from the projections.

Empty inputs never divide by zero. A ratio with nothing to measure is `None`, meaning "no
evidence", never 0, which would read as "everyone failed"; the appraisal leaves such a KPI out.
Counts of nothing are 0. Percentiles of nothing are `None`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from domain.periods import Period

CSAT_SATISFIED_FROM = 4  # CSAT counts the answers 4 and 5 on the 1–5 scale
NPS_PROMOTER_FROM = 9  # 9–10 promote, 0–6 detract, 7–8 are passive
NPS_DETRACTOR_UP_TO = 6


@dataclass(frozen=True)
class Ratio:
    """hits out of total, kept whole so scopes can be summed and the report can show both."""

    hits: int
    total: int

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None


@dataclass(frozen=True)
class ComplaintFact:
    complaint_id: str
    client_id: str
    channel: str
    received_at: datetime
    stage: str = "intake"
    category: str | None = None
    root_cause: str | None = None
    department: str | None = None
    advisor_id: str | None = None
    resolved_at: datetime | None = None  # the decision (处理决定) the deadline is about
    closed_at: datetime | None = None
    sla_deadline: datetime | None = None
    satisfaction: int | None = None  # the client's 1–5 answer at follow-up
    merged_count: int = 0

    @property
    def withdrawn(self) -> bool:
        return self.stage == "withdrawn"


@dataclass(frozen=True)
class CallbackFact:
    task_id: str
    client_id: str
    due_at: datetime
    completed_at: datetime | None = None
    cancelled: bool = False  # e.g. the client paused service: nothing was owed
    advisor_id: str | None = None
    tier: str | None = None
    satisfaction: int | None = None  # 1–5, asked at the callback
    recommend: int | None = None  # 0–10, "would you recommend us", for NPS


@dataclass(frozen=True)
class ClientFact:
    client_id: str
    advisor_id: str | None
    tier: str
    aum: Decimal
    onboarded_at: datetime | None  # None: on the books before the system began
    left_at: datetime | None = None

    def served_at(self, instant: datetime) -> bool:
        joined = self.onboarded_at is None or self.onboarded_at <= instant
        return joined and (self.left_at is None or self.left_at > instant)


def _within(instant: datetime | None, start: datetime, end: datetime) -> bool:
    return instant is not None and start <= instant < end


def _check_scale(values: Iterable[int], low: int, high: int, name: str) -> list[int]:
    out = list(values)
    bad = [v for v in out if not low <= v <= high]
    if bad:
        raise ValueError(f"{name} answers must be {low}–{high}; got {sorted(set(bad))}")
    return out


def csat(answers: Iterable[int]) -> Ratio:
    """Share of 4–5 answers on the 1–5 scale."""
    scores = _check_scale(answers, 1, 5, "CSAT")
    return Ratio(sum(1 for s in scores if s >= CSAT_SATISFIED_FROM), len(scores))


def nps(answers: Iterable[int]) -> float | None:
    """% promoters (9–10) − % detractors (0–6), from −100 to 100; None without answers."""
    scores = _check_scale(answers, 0, 10, "NPS")
    if not scores:
        return None
    promoters = sum(1 for s in scores if s >= NPS_PROMOTER_FROM)
    detractors = sum(1 for s in scores if s <= NPS_DETRACTOR_UP_TO)
    return 100 * (promoters - detractors) / len(scores)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile: always a value that occurred, so "P90 = 14 days" is a real case."""
    if not 0 < q <= 100:
        raise ValueError("a percentile is in (0, 100]")
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(q / 100 * len(ordered)) - 1]


def callback_completion(
    callbacks: Iterable[CallbackFact],
    start: datetime,
    end: datetime,
    grace: Period,
    as_of: datetime,
) -> Ratio:
    """Callbacks due in [start, end) that were done by their due time plus the grace.

    A callback still inside its grace at `as_of` and not yet done is pending, not missed, so it
    is left out; cancelled callbacks (paused or closed service) were never owed.
    """
    hits = total = 0
    for cb in callbacks:
        if cb.cancelled or not _within(cb.due_at, start, end):
            continue
        late_after = grace.after(cb.due_at)
        on_time = cb.completed_at is not None and cb.completed_at <= late_after
        if cb.completed_at is None and as_of < late_after:
            continue
        total += 1
        hits += on_time
    return Ratio(hits, total)


def callback_answers(
    callbacks: Iterable[CallbackFact], start: datetime, end: datetime
) -> tuple[list[int], list[int]]:
    """(satisfaction 1–5, recommend 0–10) answers from callbacks completed in [start, end)."""
    done = [cb for cb in callbacks if _within(cb.completed_at, start, end)]
    return (
        [cb.satisfaction for cb in done if cb.satisfaction is not None],
        [cb.recommend for cb in done if cb.recommend is not None],
    )


def resolution_days(
    complaints: Iterable[ComplaintFact], start: datetime, end: datetime
) -> list[float]:
    """Days from receipt to decision, for complaints decided in [start, end)."""
    return [
        (c.resolved_at - c.received_at) / timedelta(days=1)
        for c in complaints
        if c.resolved_at is not None and not c.withdrawn and _within(c.resolved_at, start, end)
    ]


def deadline_compliance(
    complaints: Iterable[ComplaintFact], start: datetime, end: datetime, as_of: datetime
) -> Ratio:
    """Share of complaints decided by their (possibly extended) SLA deadline.

    Counted: complaints decided in [start, end), plus undecided ones whose deadline passed in
    [start, min(end, as_of)): a breach with no decision yet must not vanish from the figure.
    Withdrawn complaints ended without a decision being owed.
    """
    hits = total = 0
    for c in complaints:
        if c.withdrawn or c.sla_deadline is None:
            continue
        if c.resolved_at is not None:
            if _within(c.resolved_at, start, end):
                total += 1
                hits += c.resolved_at <= c.sla_deadline
        elif _within(c.sla_deadline, start, min(end, as_of)):
            total += 1
    return Ratio(hits, total)


def complaint_satisfaction(
    complaints: Iterable[ComplaintFact], start: datetime, end: datetime, satisfied_at: int
) -> tuple[Ratio, float | None]:
    """(share satisfied, mean answer) of follow-up answers, complaints closed in [start, end)."""
    answers = _check_scale(
        (
            c.satisfaction
            for c in complaints
            if c.satisfaction is not None and _within(c.closed_at, start, end)
        ),
        1,
        5,
        "complaint satisfaction",
    )
    mean = sum(answers) / len(answers) if answers else None
    return Ratio(sum(1 for a in answers if a >= satisfied_at), len(answers)), mean


def repeat_complaints(
    complaints: Sequence[ComplaintFact], start: datetime, end: datetime, window: Period
) -> Ratio:
    """Complaints received in [start, end) whose client had complained within `window` before.

    `complaints` must reach back `window` before `start`. Repeats on the same matter that were
    merged into an open complaint never became rows; they are reported apart (`merged_count`).
    """
    by_client: dict[str, list[datetime]] = {}
    for c in complaints:
        by_client.setdefault(c.client_id, []).append(c.received_at)
    hits = total = 0
    for c in complaints:
        if not _within(c.received_at, start, end):
            continue
        total += 1
        since = window.after(c.received_at, times=-1)
        hits += any(since <= t < c.received_at for t in by_client[c.client_id])
    return Ratio(hits, total)


@dataclass(frozen=True)
class ClientCounts:
    at_start: int
    new: int
    at_end: int

    @property
    def retention(self) -> float | None:
        """(clients at end − new clients) / clients at start; None with no clients at start."""
        return (self.at_end - self.new) / self.at_start if self.at_start else None


def client_counts(clients: Iterable[ClientFact], start: datetime, end: datetime) -> ClientCounts:
    """`end` is exclusive, so "at end" means served at the last instant of the period.

    "new" counts only the newcomers still served at the end: one who joined and left within the
    period is in neither `new` nor `at_end`, so it cannot lower the retention of the others.
    """
    at_start = new = at_end = 0
    last = end - timedelta(microseconds=1)
    for c in clients:
        at_start += c.served_at(start)
        at_end += c.served_at(last)
        new += _within(c.onboarded_at, start, end) and c.served_at(last)
    return ClientCounts(at_start, new, at_end)


@dataclass(frozen=True)
class AumGrowth:
    """end − start = net new money + market movement, exactly (Decimal)."""

    start: Decimal | None
    end: Decimal
    net_new_money: Decimal
    market_movement: Decimal | None
    rate: float | None
    net_new_money_rate: float | None
    market_rate: float | None


def aum_growth(start: Decimal | None, end: Decimal, net_new_money: Decimal) -> AumGrowth:
    """Splits the change of AUM; without a starting figure only the flows are known."""
    if start is None:
        return AumGrowth(None, end, net_new_money, None, None, None, None)
    market = end - start - net_new_money

    def rate(part: Decimal) -> float | None:
        return float(part / start) if start else None

    return AumGrowth(
        start, end, net_new_money, market, rate(end - start), rate(net_new_money), rate(market)
    )


def net_new_money(clients: Iterable[ClientFact], start: datetime, end: datetime) -> Decimal:
    """AUM brought by clients who joined minus AUM taken by clients who left in [start, end).

    The read models hold no transaction ledger, so a client's recorded AUM stands in for its
    funding on arrival and its withdrawal on leaving; flows of staying clients count as market.
    """
    total = Decimal(0)
    for c in clients:
        joined, left = _within(c.onboarded_at, start, end), _within(c.left_at, start, end)
        if joined and not left:
            total += c.aum
        elif left and not joined:
            total -= c.aum
    return total
