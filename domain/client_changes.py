"""Periodic analysis of a client file (DOMAIN §4): asset trend, change of risk preference and
change of financial condition between two snapshots of the same client.

Every verdict is a sign, not a judgement call: a figure went up, down or stayed put. The
relative changes ride along so a reader can tell a rounding error from a crash.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from domain.enums import RiskLevel
from domain.financial import AssetClass, ClientMetrics, FinancialInfo

# Ratios are reported in basis points; more digits would only be noise in a review.
_RATIO = Decimal("0.0001")


class Trend(StrEnum):
    UP = "up"
    DOWN = "down"
    FLAT = "flat"


class RiskChange(StrEnum):
    MORE_AGGRESSIVE = "more_aggressive"
    MORE_CONSERVATIVE = "more_conservative"
    UNCHANGED = "unchanged"
    NEWLY_ASSESSED = "newly_assessed"
    NO_LONGER_ASSESSED = "no_longer_assessed"
    UNASSESSED = "unassessed"


class ConditionChange(StrEnum):
    IMPROVED = "improved"
    DETERIORATED = "deteriorated"
    MIXED = "mixed"
    UNCHANGED = "unchanged"


class ClientSnapshot(BaseModel):
    """What a periodic analysis compares; `ClientFile.snapshot()` takes one."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    financial: FinancialInfo
    metrics: ClientMetrics
    risk_level: RiskLevel | None = None


class FigureChange(BaseModel):
    model_config = ConfigDict(frozen=True)
    previous: Decimal
    current: Decimal
    delta: Decimal
    relative: Decimal | None  # delta / |previous|; None when previous is zero
    trend: Trend

    @classmethod
    def of(cls, previous: Decimal, current: Decimal) -> FigureChange:
        delta = current - previous
        relative = None if previous == 0 else (delta / abs(previous)).quantize(_RATIO)
        return cls(
            previous=previous,
            current=current,
            delta=delta,
            relative=relative,
            trend=_trend(delta),
        )


class ChangeAnalysis(BaseModel):
    model_config = ConfigDict(frozen=True)
    asset_trend: Trend  # of the client's total assets, wherever held
    aum: FigureChange  # assets with the firm
    total_assets: FigureChange
    net_worth: FigureChange
    annual_income: FigureChange
    debt_ratio_previous: Decimal | None
    debt_ratio_current: Decimal | None
    share_shift: dict[AssetClass, Decimal]  # current share minus previous, per class held
    risk_change: RiskChange
    financial_condition: ConditionChange


def analyse_changes(previous: ClientSnapshot, current: ClientSnapshot) -> ChangeAnalysis:
    total = FigureChange.of(previous.financial.total_assets(), current.financial.total_assets())
    net_worth = FigureChange.of(previous.financial.net_worth(), current.financial.net_worth())
    income = FigureChange.of(previous.financial.annual_income(), current.financial.annual_income())
    debt_before = _ratio(previous.financial.debt_ratio())
    debt_after = _ratio(current.financial.debt_ratio())
    return ChangeAnalysis(
        asset_trend=total.trend,
        aum=FigureChange.of(previous.metrics.aum, current.metrics.aum),
        total_assets=total,
        net_worth=net_worth,
        annual_income=income,
        debt_ratio_previous=debt_before,
        debt_ratio_current=debt_after,
        share_shift=_share_shift(previous.financial, current.financial),
        risk_change=_risk_change(previous.risk_level, current.risk_level),
        financial_condition=_condition(net_worth, income, debt_before, debt_after),
    )


def _trend(delta: Decimal) -> Trend:
    return Trend.UP if delta > 0 else Trend.DOWN if delta < 0 else Trend.FLAT


def _ratio(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(_RATIO, rounding=ROUND_HALF_EVEN)


def _share_shift(before: FinancialInfo, after: FinancialInfo) -> dict[AssetClass, Decimal]:
    old, new = before.asset_shares(), after.asset_shares()
    zero = Decimal(0)
    return {c: new.get(c, zero) - old.get(c, zero) for c in AssetClass if c in old or c in new}


def _risk_change(before: RiskLevel | None, after: RiskLevel | None) -> RiskChange:
    if before is None:
        return RiskChange.UNASSESSED if after is None else RiskChange.NEWLY_ASSESSED
    if after is None:
        return RiskChange.NO_LONGER_ASSESSED
    order = list(RiskLevel)
    step = order.index(after) - order.index(before)
    if step > 0:
        return RiskChange.MORE_AGGRESSIVE
    if step < 0:
        return RiskChange.MORE_CONSERVATIVE
    return RiskChange.UNCHANGED


def _condition(
    net_worth: FigureChange,
    income: FigureChange,
    debt_before: Decimal | None,
    debt_after: Decimal | None,
) -> ConditionChange:
    """Three signals: net worth up is good, income up is good, a lower debt ratio is good.
    Improved when some signal is good and none bad; deteriorated the other way round."""
    signals = [_sign(net_worth.delta), _sign(income.delta)]
    if debt_before is not None and debt_after is not None:
        signals.append(_sign(debt_before - debt_after))
    good, bad = any(s > 0 for s in signals), any(s < 0 for s in signals)
    if good and bad:
        return ConditionChange.MIXED
    if good:
        return ConditionChange.IMPROVED
    if bad:
        return ConditionChange.DETERIORATED
    return ConditionChange.UNCHANGED


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)
