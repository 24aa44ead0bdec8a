"""Suitability: R ≤ n, and no recommendation on a missing or lapsed assessment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.enums import RiskLevel
from domain.periods import Period
from domain.policy import Policy, ServicePolicy
from domain.suitability import ProductRisk, assessment_current, decide, suits


@pytest.mark.parametrize(
    ("product", "client", "expected"),
    [
        (ProductRisk.R1, RiskLevel.C1, True),
        (ProductRisk.R2, RiskLevel.C1, False),
        (ProductRisk.R3, RiskLevel.C3, True),
        (ProductRisk.R4, RiskLevel.C3, False),
        (ProductRisk.R2, RiskLevel.C4, True),
        (ProductRisk.R5, RiskLevel.C5, True),
    ],
)
def test_a_product_suits_a_client_only_up_to_the_clients_level(
    product: ProductRisk, client: RiskLevel, expected: bool
) -> None:
    assert suits(product, client) is expected


@given(st.sampled_from(ProductRisk), st.sampled_from(RiskLevel))
def test_suitability_is_monotone_in_both_product_and_client(
    product: ProductRisk, client: RiskLevel
) -> None:
    products, levels = list(ProductRisk), list(RiskLevel)
    if suits(product, client):
        assert all(suits(p, client) for p in products[: products.index(product)])
        assert all(suits(product, c) for c in levels[levels.index(client) :])
    else:
        assert not any(suits(p, client) for p in products[products.index(product) :])


def test_an_unassessed_client_suits_nothing() -> None:
    decision = decide(ProductRisk.R1, None)
    assert not decision.suitable
    assert "no risk assessment" in decision.reason


def test_a_lapsed_assessment_suits_nothing() -> None:
    decision = decide(ProductRisk.R1, RiskLevel.C5, current=False)
    assert not decision.suitable
    assert "lapsed" in decision.reason


def test_decisions_give_the_reason() -> None:
    assert decide(ProductRisk.R3, RiskLevel.C4).suitable
    refused = decide(ProductRisk.R4, RiskLevel.C2)
    assert not refused.suitable
    assert "at most R2" in refused.reason


def test_an_assessment_stands_for_the_policys_validity() -> None:
    policy = Policy(service=ServicePolicy(risk_assessment_valid_for=Period.parse("P6M")))
    taken = datetime(2027, 1, 31, 9, tzinfo=UTC)
    lapses = datetime(2027, 7, 31, 9, tzinfo=UTC)
    assert assessment_current(taken, lapses - timedelta(seconds=1), policy)
    assert not assessment_current(taken, lapses, policy)
    assert not assessment_current(None, taken, policy)
