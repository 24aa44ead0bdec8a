"""Scorecards: each scope is measured on what it controls, and appraised from that."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from domain.appraisal import QualitativeInput
from domain.kpi import CallbackFact, ClientFact, ComplaintFact
from domain.kpi_period import ReportingPeriod
from domain.kpi_scorecard import KpiFacts, Scorecard, scorecards
from domain.policy import Policy

POLICY = Policy()
MARCH = ReportingPeriod.parse("2027-03", POLICY.zone())


def at(d: int, month: int = 3) -> datetime:
    return datetime(2027, month, d, 10, tzinfo=POLICY.zone())


FACTS = KpiFacts(
    clients=(
        ClientFact("c1", "adv-a", "gold", Decimal(600_000), at(1, 1)),
        ClientFact("c2", "adv-a", "platinum", Decimal(4_000_000), at(5)),
        ClientFact("c3", "adv-b", "regular", Decimal(10_000), at(1, 1)),
    ),
    callbacks=(
        CallbackFact("t1", "c1", at(3), at(4), advisor_id="adv-a", satisfaction=5, recommend=10),
        CallbackFact("t2", "c3", at(6), None, advisor_id="adv-b"),
    ),
    complaints=(
        ComplaintFact(
            "k1", "c1", "hotline", at(2), stage="closed", category="fees", root_cause="pricing",
            department="ops", advisor_id="adv-a", resolved_at=at(8), closed_at=at(10),
            sla_deadline=at(17), satisfaction=4,
        ),
        ComplaintFact(
            "k2", "c3", "email", at(20), stage="investigation", department="it",
            advisor_id="adv-b", sla_deadline=at(4, 4),
        ),
    ),
)  # fmt: skip


def cards_by_key() -> dict[tuple[str, str], Scorecard]:
    cards = scorecards(
        FACTS,
        MARCH,
        POLICY,
        as_of=MARCH.end + timedelta(hours=3),
        aum_start={("firm", "firm"): Decimal(600_000 + 10_000)},
        qualitative={"advisor:adv-a": QualitativeInput(conduct=5)},
    )
    assert [(c.scope, c.scope_id) for c in cards] == [
        ("firm", "firm"), ("advisor", "adv-a"), ("advisor", "adv-b"),
        ("department", "it"), ("department", "ops"),
    ]  # fmt: skip
    return {(c.scope, c.scope_id): c for c in cards}


def test_firm_sees_every_kpi_and_the_complaint_analysis() -> None:
    firm = cards_by_key()[("firm", "firm")].metrics
    assert firm["callbacks_due"] == 2 and firm["callback_completion"] == 0.5
    assert (firm["csat"], firm["nps"]) == (1.0, 100.0)
    assert (firm["clients_start"], firm["clients_new"], firm["clients_end"]) == (2, 1, 3)
    assert firm["retention"] == 1.0
    # 4.61 M at the end, 4.0 M of it the new client's: the other 0 is market movement.
    assert (firm["aum_end"], firm["net_new_money"], firm["market_movement"]) == (
        4_610_000.0, 4_000_000.0, 0.0,
    )  # fmt: skip
    assert firm["deadline_compliance"] == 1.0 and firm["resolution_days_p50"] == 6.0
    assert firm["complaints_received"] == 2
    assert firm["complaint_analysis"]["by_category"] == {"fees": 1, "unassessed": 1}


def test_advisors_answer_for_clients_and_departments_for_handling() -> None:
    cards = cards_by_key()
    adv_a, dept_ops = cards[("advisor", "adv-a")].metrics, cards[("department", "ops")].metrics
    assert "deadline_compliance" not in adv_a and "csat" not in dept_ops
    assert adv_a["csat"] == 1.0 and adv_a["clients_end"] == 2
    assert adv_a["aum_start"] is None  # no previous snapshot: growth unknown, not zero
    assert dept_ops["deadline_compliance"] == 1.0 and dept_ops["complaint_satisfaction"] == 1.0
    # The IT complaint is not due until April: no deadline evidence for IT in March.
    assert cards[("department", "it")].metrics["deadline_compliance"] is None


def test_qualitative_ratings_reach_only_their_subject() -> None:
    cards = cards_by_key()
    adv_a, adv_b = cards[("advisor", "adv-a")].appraisal, cards[("advisor", "adv-b")].appraisal
    assert (adv_a.qualitative, adv_b.qualitative) == (100.0, None)
    # adv-b: one missed callback (0), retention 1 of 1 (100), a first complaint (100).
    expected = (0 * 0.20 + 100 * 0.10 + 100 * 0.05) / 0.35
    assert adv_b.quantitative == pytest.approx(expected, abs=0.01)
