"""The KPI definitions of DOMAIN §7, each on a small worked example, plus a few properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import kpi
from domain.kpi import CallbackFact, ClientFact, ComplaintFact
from domain.periods import Period

MARCH = datetime(2027, 3, 1, tzinfo=UTC)
APRIL = datetime(2027, 4, 1, tzinfo=UTC)


def day(month: int, d: int, hour: int = 10) -> datetime:
    return datetime(2027, month, d, hour, tzinfo=UTC)


def complaint(cid: str, client: str = "c1", received: datetime = MARCH, **kw: Any) -> ComplaintFact:
    return ComplaintFact(
        complaint_id=cid, client_id=client, channel="hotline", received_at=received, **kw
    )


# --- satisfaction ------------------------------------------------------------------------------


def test_csat_is_the_share_of_fours_and_fives() -> None:
    ratio = kpi.csat([5, 4, 3, 5, 1])
    assert (ratio.hits, ratio.total) == (3, 5)
    assert ratio.value == pytest.approx(0.6)


def test_csat_without_answers_is_no_evidence_not_zero() -> None:
    assert kpi.csat([]).value is None


def test_csat_refuses_answers_off_the_scale() -> None:
    with pytest.raises(ValueError, match="1–5"):
        kpi.csat([4, 6])


def test_nps_is_promoters_minus_detractors_in_percent() -> None:
    # promoters 10, 9, 10, 9, 10 (5); passives 8, 7; detractors 6, 0, 5 (3): (5 − 3) / 10
    assert kpi.nps([10, 9, 8, 7, 6, 0, 10, 5, 9, 10]) == pytest.approx(20.0)
    assert kpi.nps([]) is None
    assert kpi.nps([7, 8]) == 0


@given(st.lists(st.integers(0, 10), min_size=1))
def test_nps_is_bounded_and_ignores_order(answers: list[int]) -> None:
    value = kpi.nps(answers)
    assert value is not None and -100 <= value <= 100
    assert kpi.nps(list(reversed(answers))) == value


@given(st.lists(st.integers(1, 5)))
def test_csat_counts_every_answer_once(answers: list[int]) -> None:
    ratio = kpi.csat(answers)
    assert ratio.total == len(answers)
    assert 0 <= ratio.hits <= ratio.total


# --- percentiles -------------------------------------------------------------------------------


def test_nearest_rank_percentiles_are_observed_values() -> None:
    days = [float(d) for d in range(10, 0, -1)]
    assert kpi.percentile(days, 50) == 5
    assert kpi.percentile(days, 90) == 9
    assert kpi.percentile([7.0], 90) == 7
    assert kpi.percentile([], 50) is None


@given(st.lists(st.floats(0, 1000), min_size=1), st.floats(1, 100), st.floats(1, 100))
def test_percentiles_are_monotone_and_within_the_data(
    values: list[float], q1: float, q2: float
) -> None:
    low, high = sorted((q1, q2))
    p_low, p_high = kpi.percentile(values, low), kpi.percentile(values, high)
    assert p_low is not None and p_high is not None
    assert p_low <= p_high
    assert p_low in values and p_high in values


# --- callbacks ---------------------------------------------------------------------------------


def test_callback_completion_counts_done_within_grace_of_callbacks_due() -> None:
    def cb(tid: str, due: datetime, done: datetime | None = None, **kw: Any) -> CallbackFact:
        return CallbackFact(task_id=tid, client_id="c", due_at=due, completed_at=done, **kw)

    callbacks = [
        cb("on-time", day(3, 3), day(3, 5)),
        cb("late", day(3, 10), day(3, 18)),  # 8 days after due: past the 7-day grace
        cb("missed", day(3, 12)),
        cb("pending", day(3, 28)),  # grace runs to 4 April: not missed yet on 1 April
        cb("early-next", day(3, 29), day(3, 30)),
        cb("cancelled", day(3, 15), cancelled=True),
        cb("february", day(2, 27), day(3, 2)),
    ]
    ratio = kpi.callback_completion(callbacks, MARCH, APRIL, Period.parse("P7D"), as_of=APRIL)
    assert (ratio.hits, ratio.total) == (2, 4)
    # A week later the pending callback has become a miss.
    later = kpi.callback_completion(
        callbacks, MARCH, APRIL, Period.parse("P7D"), APRIL + timedelta(7)
    )
    assert (later.hits, later.total) == (2, 5)


def test_callback_answers_come_from_callbacks_done_in_the_period() -> None:
    callbacks = [
        CallbackFact("a", "c", day(2, 20), day(3, 2), satisfaction=5, recommend=9),
        CallbackFact("b", "c", day(3, 20), day(3, 21), satisfaction=3),
        CallbackFact("c", "c", day(3, 20), day(4, 2), satisfaction=1, recommend=0),
    ]
    assert kpi.callback_answers(callbacks, MARCH, APRIL) == ([5, 3], [9])


# --- complaints --------------------------------------------------------------------------------


def test_deadline_compliance_counts_undecided_breaches() -> None:
    complaints = [
        complaint("met", received=day(3, 1), resolved_at=day(3, 10), sla_deadline=day(3, 16)),
        complaint("late", received=day(3, 2), resolved_at=day(3, 20), sla_deadline=day(3, 17)),
        complaint("open-breached", received=day(3, 5), sla_deadline=day(3, 20)),
        complaint("open-not-due", received=day(3, 25), sla_deadline=day(4, 9)),
        complaint(
            "decided-feb", received=day(2, 1), resolved_at=day(2, 10), sla_deadline=day(2, 16)
        ),
        complaint("withdrawn", received=day(3, 1), stage="withdrawn", sla_deadline=day(3, 16)),
    ]
    ratio = kpi.deadline_compliance(complaints, MARCH, APRIL, as_of=APRIL)
    assert (ratio.hits, ratio.total) == (1, 3)
    # Taken mid-month, the open complaint's deadline (20 March) has not passed yet.
    mid = kpi.deadline_compliance(complaints, MARCH, APRIL, as_of=day(3, 18))
    assert (mid.hits, mid.total) == (1, 2)


def test_resolution_days_are_receipt_to_decision_for_decisions_in_the_period() -> None:
    complaints = [
        complaint("a", received=day(3, 1), resolved_at=day(3, 4)),
        complaint("b", received=day(2, 20), resolved_at=day(3, 6, hour=22)),
        complaint("c", received=day(2, 1), resolved_at=day(2, 3)),
        complaint("open", received=day(3, 2)),
    ]
    assert kpi.resolution_days(complaints, MARCH, APRIL) == [3.0, 14.5]


def test_complaint_satisfaction_share_and_mean_of_closed_complaints() -> None:
    complaints = [
        complaint("a", closed_at=day(3, 5), satisfaction=5),
        complaint("b", closed_at=day(3, 9), satisfaction=4),
        complaint("c", closed_at=day(3, 9), satisfaction=2),
        complaint("d", closed_at=day(2, 9), satisfaction=1),
        complaint("e", closed_at=day(3, 9)),  # the client never answered the survey
    ]
    ratio, mean = kpi.complaint_satisfaction(complaints, MARCH, APRIL, satisfied_at=4)
    assert (ratio.hits, ratio.total) == (2, 3)
    assert mean == pytest.approx(11 / 3)
    assert kpi.complaint_satisfaction([], MARCH, APRIL, 4) == (kpi.Ratio(0, 0), None)


def test_repeat_complaints_look_back_the_window_per_client() -> None:
    complaints = [
        complaint("a1", "A", datetime(2026, 5, 1, tzinfo=UTC)),
        complaint("a2", "A", day(3, 10)),  # 10 months after a1: a repeat
        complaint("b1", "B", day(3, 2)),
        complaint("b2", "B", day(3, 20)),  # a repeat of b1
        complaint("c1", "C", datetime(2026, 1, 1, tzinfo=UTC)),
        complaint("c2", "C", day(3, 5)),  # 14 months later: outside the window
    ]
    ratio = kpi.repeat_complaints(complaints, MARCH, APRIL, Period.parse("P12M"))
    assert (ratio.hits, ratio.total) == (2, 4)


# --- clients and AUM ---------------------------------------------------------------------------


def test_retention_is_end_minus_new_over_start() -> None:
    old = [ClientFact(f"o{i}", "adv", "gold", Decimal(1), day(1, 1)) for i in range(9)]
    clients = [
        *old,
        ClientFact("legacy", "adv", "gold", Decimal(1), None),  # before the system began
        ClientFact("left", "adv", "gold", Decimal(1), day(1, 1), left_at=day(3, 15)),
        ClientFact("new1", "adv", "gold", Decimal(1), day(3, 3)),
        ClientFact("new2", "adv", "gold", Decimal(1), day(3, 30)),
        ClientFact("came-and-went", "adv", "gold", Decimal(1), day(3, 3), left_at=day(3, 9)),
    ]
    counts = kpi.client_counts(clients, MARCH, APRIL)
    assert (counts.at_start, counts.new, counts.at_end) == (11, 2, 12)
    assert counts.retention == pytest.approx((12 - 2) / 11)
    assert kpi.client_counts([], MARCH, APRIL).retention is None


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(0, 90)), st.one_of(st.none(), st.integers(0, 90))
        )
    )
)
def test_retention_stays_between_zero_and_one(spans: list[tuple[int | None, int | None]]) -> None:
    base = datetime(2027, 2, 1, tzinfo=UTC)
    clients = [
        ClientFact(
            str(i),
            None,
            "regular",
            Decimal(0),
            None if joined is None else base + timedelta(joined),
            None if left is None or joined is None else base + timedelta(joined + left + 1),
        )
        for i, (joined, left) in enumerate(spans)
    ]
    retention = kpi.client_counts(clients, MARCH, APRIL).retention
    assert retention is None or 0 <= retention <= 1


def test_aum_growth_splits_into_net_new_money_and_market() -> None:
    growth = kpi.aum_growth(Decimal(1_000_000), Decimal(1_150_000), Decimal(100_000))
    assert growth.market_movement == Decimal(50_000)
    assert (growth.rate, growth.net_new_money_rate, growth.market_rate) == pytest.approx(
        (0.15, 0.10, 0.05)
    )
    unknown_start = kpi.aum_growth(None, Decimal(5), Decimal(5))
    assert unknown_start.rate is None and unknown_start.market_movement is None
    assert kpi.aum_growth(Decimal(0), Decimal(5), Decimal(5)).rate is None


@given(
    st.decimals(0, 10**9, places=2),
    st.decimals(0, 10**9, places=2),
    st.decimals(-(10**9), 10**9, places=2),
)
def test_aum_parts_add_up_exactly(start: Decimal, end: Decimal, flows: Decimal) -> None:
    growth = kpi.aum_growth(start, end, flows)
    assert growth.market_movement is not None
    assert growth.net_new_money + growth.market_movement == end - start


def test_net_new_money_is_arrivals_minus_departures() -> None:
    clients = [
        ClientFact("stay", "a", "gold", Decimal(900), day(1, 1)),
        ClientFact("new", "a", "gold", Decimal(300), day(3, 3)),
        ClientFact("gone", "a", "gold", Decimal(120), day(1, 1), left_at=day(3, 20)),
        ClientFact("both", "a", "gold", Decimal(50), day(3, 2), left_at=day(3, 4)),
    ]
    assert kpi.net_new_money(clients, MARCH, APRIL) == Decimal(180)
