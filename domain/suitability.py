"""Suitability (适当性管理): a product of risk R1–R5 suits a client of level Cn only when R ≤ n.

A client without a current risk assessment suits nothing: the firm may not recommend a product
on a profile it does not have, or on one that has lapsed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from domain.enums import RiskLevel
from domain.policy import Policy


class ProductRisk(StrEnum):
    R1 = "R1"  # 低风险
    R2 = "R2"  # 中低风险
    R3 = "R3"  # 中风险
    R4 = "R4"  # 中高风险
    R5 = "R5"  # 高风险


def _rank(value: ProductRisk | RiskLevel) -> int:
    return int(value.value[1:])


class SuitabilityDecision(BaseModel):
    model_config = ConfigDict(frozen=True)
    product: ProductRisk
    client_level: RiskLevel | None
    suitable: bool
    reason: str


def suits(product: ProductRisk, client: RiskLevel) -> bool:
    return _rank(product) <= _rank(client)


def assessment_current(assessed_at: datetime | None, now: datetime, policy: Policy) -> bool:
    """Whether a questionnaire taken at `assessed_at` still stands at `now`."""
    if assessed_at is None:
        return False
    return now < policy.service.risk_assessment_valid_for.after(assessed_at)


def decide(
    product: ProductRisk,
    client: RiskLevel | None,
    *,
    current: bool = True,
) -> SuitabilityDecision:
    """`client` None means never assessed; `current` False means the assessment has lapsed
    (see `assessment_current`)."""
    if client is None:
        return SuitabilityDecision(
            product=product,
            client_level=None,
            suitable=False,
            reason="the client has no risk assessment; complete the questionnaire first",
        )
    if not current:
        return SuitabilityDecision(
            product=product,
            client_level=client,
            suitable=False,
            reason=f"the client's {client.value} assessment has lapsed; re-assess first",
        )
    if suits(product, client):
        return SuitabilityDecision(
            product=product,
            client_level=client,
            suitable=True,
            reason=f"{product.value} is within a {client.value} client's tolerance",
        )
    return SuitabilityDecision(
        product=product,
        client_level=client,
        suitable=False,
        reason=(
            f"{product.value} exceeds a {client.value} client's tolerance "
            f"(at most R{_rank(client)})"
        ),
    )
