"""The financial picture: totals, net worth, and asset shares that add up to exactly 1."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.financial import (
    AssetClass,
    AssetHolding,
    ClientMetrics,
    FinancialInfo,
    Liability,
    LiabilityKind,
)


def holding(asset_class: AssetClass, amount: int | str) -> AssetHolding:
    return AssetHolding(asset_class=asset_class, amount=Decimal(amount))


def test_net_worth_is_assets_less_liabilities_and_may_be_negative() -> None:
    info = FinancialInfo(
        assets=[holding(AssetClass.PROPERTY, 3_000_000), holding(AssetClass.CASH, "25000.50")],
        liabilities=[Liability(kind=LiabilityKind.MORTGAGE, amount=Decimal(3_500_000))],
    )
    assert info.total_assets() == Decimal("3025000.50")
    assert info.net_worth() == Decimal("-474999.50")
    assert info.debt_ratio() == Decimal(3_500_000) / Decimal("3025000.50")


def test_thirds_still_add_up_to_one() -> None:
    info = FinancialInfo(
        assets=[holding(c, 100) for c in (AssetClass.CASH, AssetClass.STOCKS, AssetClass.FUNDS)]
    )
    shares = info.asset_shares()
    assert sum(shares.values()) == 1
    # The spare basis point goes to the first class in AssetClass order, whatever the input order.
    assert shares == {
        AssetClass.CASH: Decimal("0.3334"),
        AssetClass.STOCKS: Decimal("0.3333"),
        AssetClass.FUNDS: Decimal("0.3333"),
    }
    reversed_info = FinancialInfo(assets=list(reversed(info.assets)))
    assert reversed_info.asset_shares() == shares


def test_holdings_of_one_class_are_added_and_empty_classes_left_out() -> None:
    info = FinancialInfo(
        assets=[
            holding(AssetClass.DEPOSITS, 300),
            holding(AssetClass.DEPOSITS, 100),
            holding(AssetClass.STOCKS, 100),
            holding(AssetClass.OTHER, 0),
        ]
    )
    assert info.asset_shares() == {
        AssetClass.DEPOSITS: Decimal("0.8"),
        AssetClass.STOCKS: Decimal("0.2"),
    }


def test_no_assets_means_no_shares_and_no_debt_ratio() -> None:
    assert FinancialInfo().asset_shares() == {}
    assert FinancialInfo(assets=[holding(AssetClass.CASH, 0)]).asset_shares() == {}
    assert FinancialInfo().debt_ratio() is None


@pytest.mark.parametrize("amount", ["-1", "NaN", "Infinity"])
def test_amounts_must_be_finite_and_not_negative(amount: str) -> None:
    with pytest.raises(ValidationError):
        AssetHolding(asset_class=AssetClass.CASH, amount=Decimal(amount))


def test_metrics_are_not_negative() -> None:
    with pytest.raises(ValidationError):
        ClientMetrics(transactions_12m=-1)
    with pytest.raises(ValidationError):
        ClientMetrics(aum=Decimal(-1))


holdings = st.lists(
    st.builds(
        AssetHolding,
        asset_class=st.sampled_from(AssetClass),
        amount=st.decimals(min_value=0, max_value=10**9, places=2),
    ),
    max_size=12,
)


@settings(max_examples=100)
@given(holdings, st.integers(0, 6))
def test_shares_sum_to_one_and_each_is_within_a_unit_of_exact(
    assets: list[AssetHolding], places: int
) -> None:
    info = FinancialInfo(assets=assets)
    shares = info.asset_shares(places)
    total = info.total_assets()
    if total == 0:
        assert shares == {}
        return
    unit = Decimal(1).scaleb(-places)
    assert sum(shares.values()) == 1
    for asset_class, amount in info.assets_by_class().items():
        assert abs(shares[asset_class] - amount / total) < unit
