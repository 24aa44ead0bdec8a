"""Periodic analysis of a client file: asset trend, risk preference, financial condition."""

from __future__ import annotations

from decimal import Decimal

from domain.client import (
    AssetClass,
    AssetHolding,
    ClientMetrics,
    ClientSnapshot,
    ConditionChange,
    FinancialInfo,
    RiskChange,
    Trend,
    analyse_changes,
)
from domain.enums import RiskLevel
from domain.financial import Income, IncomeKind, Liability, LiabilityKind


def snapshot(
    *,
    deposits: int,
    stocks: int = 0,
    debt: int = 0,
    income: int = 100_000,
    aum: int = 0,
    level: RiskLevel | None = RiskLevel.C3,
) -> ClientSnapshot:
    assets = [AssetHolding(asset_class=AssetClass.DEPOSITS, amount=Decimal(deposits))]
    if stocks:
        assets.append(AssetHolding(asset_class=AssetClass.STOCKS, amount=Decimal(stocks)))
    return ClientSnapshot(
        financial=FinancialInfo(
            assets=assets,
            liabilities=[Liability(kind=LiabilityKind.CAR_LOAN, amount=Decimal(debt))]
            if debt
            else [],
            income=[Income(kind=IncomeKind.SALARY, amount_annual=Decimal(income))],
        ),
        metrics=ClientMetrics(aum=Decimal(aum)),
        risk_level=level,
    )


def test_a_worked_example_of_growth() -> None:
    before = snapshot(deposits=800_000, debt=200_000, aum=500_000)
    after = snapshot(
        deposits=600_000, stocks=400_000, debt=100_000, aum=750_000, level=RiskLevel.C4
    )
    analysis = analyse_changes(before, after)
    assert analysis.asset_trend is Trend.UP
    assert analysis.total_assets.delta == Decimal(200_000)
    assert analysis.total_assets.relative == Decimal("0.2500")
    assert (analysis.aum.trend, analysis.aum.relative) == (Trend.UP, Decimal("0.5000"))
    assert analysis.net_worth.delta == Decimal(300_000)
    assert (analysis.debt_ratio_previous, analysis.debt_ratio_current) == (
        Decimal("0.2500"),
        Decimal("0.1000"),
    )
    assert analysis.share_shift == {
        AssetClass.DEPOSITS: Decimal("-0.4"),
        AssetClass.STOCKS: Decimal("0.4"),
    }
    assert analysis.risk_change is RiskChange.MORE_AGGRESSIVE
    assert analysis.financial_condition is ConditionChange.IMPROVED


def test_shrinking_assets_and_income_are_a_deterioration() -> None:
    analysis = analyse_changes(
        snapshot(deposits=1_000_000, income=300_000), snapshot(deposits=700_000, income=200_000)
    )
    assert analysis.asset_trend is Trend.DOWN
    assert analysis.financial_condition is ConditionChange.DETERIORATED


def test_good_and_bad_signals_together_are_mixed() -> None:
    # Richer, but earning less.
    analysis = analyse_changes(
        snapshot(deposits=1_000_000, income=300_000), snapshot(deposits=1_200_000, income=250_000)
    )
    assert analysis.financial_condition is ConditionChange.MIXED


def test_nothing_changed() -> None:
    same = snapshot(deposits=1_000)
    analysis = analyse_changes(same, same)
    assert analysis.asset_trend is Trend.FLAT
    assert analysis.financial_condition is ConditionChange.UNCHANGED
    assert analysis.risk_change is RiskChange.UNCHANGED
    assert analysis.share_shift == {AssetClass.DEPOSITS: Decimal(0)}


def test_growth_from_nothing_has_no_relative_change() -> None:
    analysis = analyse_changes(snapshot(deposits=0), snapshot(deposits=1_000))
    assert analysis.total_assets.relative is None
    assert analysis.asset_trend is Trend.UP


def test_risk_preference_changes() -> None:
    def change(before: RiskLevel | None, after: RiskLevel | None) -> RiskChange:
        return analyse_changes(
            snapshot(deposits=1, level=before), snapshot(deposits=1, level=after)
        ).risk_change

    assert change(RiskLevel.C4, RiskLevel.C2) is RiskChange.MORE_CONSERVATIVE
    assert change(None, RiskLevel.C2) is RiskChange.NEWLY_ASSESSED
    assert change(RiskLevel.C2, None) is RiskChange.NO_LONGER_ASSESSED
    assert change(None, None) is RiskChange.UNASSESSED
