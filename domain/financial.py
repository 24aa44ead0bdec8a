"""A client's financial picture (DOMAIN §4) and its figures with the firm (DOMAIN §3).

Amounts are CNY `Decimal`s, never floats, so shares and net worth add up to the fen.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Money = Annotated[Decimal, Field(ge=0, lt=Decimal(10) ** 18 - 1, allow_inf_nan=False)]
"""A non-negative CNY amount that the read models' NUMERIC(20, 2) can hold (also once rounded to
the fen): an amount they cannot hold would fail its projection on every retry."""

_MODEL = ConfigDict(frozen=True, extra="forbid")


class AssetClass(StrEnum):
    CASH = "cash"
    DEPOSITS = "deposits"
    PROPERTY = "property"
    STOCKS = "stocks"
    FUNDS = "funds"
    OTHER = "other"


class LiabilityKind(StrEnum):
    MORTGAGE = "mortgage"
    CAR_LOAN = "car_loan"
    CREDIT_CARD = "credit_card"
    OTHER = "other"


class IncomeKind(StrEnum):
    SALARY = "salary"
    INVESTMENT = "investment"
    OTHER = "other"


class GoalKind(StrEnum):
    RETIREMENT = "retirement"
    EDUCATION = "education"  # children's education
    HOME = "home"  # home purchase
    OTHER = "other"


class AssetHolding(BaseModel):
    model_config = _MODEL
    asset_class: AssetClass
    amount: Money


class Liability(BaseModel):
    model_config = _MODEL
    kind: LiabilityKind
    amount: Money


class Income(BaseModel):
    model_config = _MODEL
    kind: IncomeKind
    amount_annual: Money


class Goal(BaseModel):
    model_config = _MODEL
    kind: GoalKind
    target_amount: Money
    target_date: date | None = None


class FinancialInfo(BaseModel):
    """Empty `liabilities` means debt-free; empty assets, income or goals mean not yet collected
    (see `domain.client.completeness`)."""

    model_config = _MODEL
    assets: list[AssetHolding] = []
    liabilities: list[Liability] = []
    income: list[Income] = []
    goals: list[Goal] = []

    def total_assets(self) -> Decimal:
        return _sum(a.amount for a in self.assets)

    def total_liabilities(self) -> Decimal:
        return _sum(li.amount for li in self.liabilities)

    def net_worth(self) -> Decimal:
        """May be negative: a client can owe more than they own."""
        return self.total_assets() - self.total_liabilities()

    def annual_income(self) -> Decimal:
        return _sum(i.amount_annual for i in self.income)

    def debt_ratio(self) -> Decimal | None:
        """Liabilities over assets; None when there are no assets to compare with."""
        total = self.total_assets()
        return None if total == 0 else self.total_liabilities() / total

    def assets_by_class(self) -> dict[AssetClass, Decimal]:
        totals: dict[AssetClass, Decimal] = {}
        for holding in self.assets:
            totals[holding.asset_class] = totals.get(holding.asset_class, Decimal(0)) + (
                holding.amount
            )
        return {c: totals[c] for c in AssetClass if totals.get(c, 0) > 0}

    def asset_shares(self, places: int = 4) -> dict[AssetClass, Decimal]:
        """Each held class's share of total assets, rounded to `places` decimals so that the
        shares sum to exactly 1 (largest-remainder rounding: plain rounding of thirds would sum
        to 0.9999 and a report would show a missing basis point). Empty when nothing is held."""
        by_class = self.assets_by_class()
        total = sum(by_class.values(), Decimal(0))
        if total == 0:
            return {}
        unit = Decimal(1).scaleb(-places)
        exact = {c: amount / total for c, amount in by_class.items()}
        floored = {c: share.quantize(unit, rounding=ROUND_FLOOR) for c, share in exact.items()}
        spare_units = int((Decimal(1) - sum(floored.values(), Decimal(0))) / unit)
        # Hand the leftover units to the largest remainders; class order breaks ties so the
        # result never depends on the order the holdings were listed in.
        order = list(AssetClass)
        by_remainder = sorted(exact, key=lambda c: (-(exact[c] - floored[c]), order.index(c)))
        for c in by_remainder[:spare_units]:
            floored[c] += unit
        return floored


class ClientMetrics(BaseModel):
    """The client's figures with the firm, as the tier criteria (DOMAIN §3) measure them."""

    model_config = _MODEL
    aum: Money = Decimal(0)
    annual_contribution: Money = Decimal(0)
    transactions_12m: int = Field(default=0, ge=0, le=2**31 - 1)  # an INTEGER column


def _sum(values: Iterable[Decimal]) -> Decimal:
    return sum(values, Decimal(0))
