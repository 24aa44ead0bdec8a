"""Classification by nature (DOMAIN §2): each client kind is sub-segmented on its own terms.

Individuals are segmented by figures the firm already holds (investment amount, risk profile),
so their segment is derived; an enterprise's size, industry and financial condition, or an
institution's business type and preference, are facts the advisor declares.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.enums import ClientKind, RiskProfile
from domain.policy import SegmentPolicy
from domain.text import FreeText

_MODEL = ConfigDict(frozen=True, extra="forbid")


class InvestmentBand(StrEnum):
    MASS = "mass"  # 大众客户
    AFFLUENT = "affluent"  # 富裕客户
    HIGH_NET_WORTH = "high_net_worth"  # 高净值客户


class EnterpriseSize(StrEnum):
    MICRO = "micro"  # 微型
    SMALL = "small"  # 小型
    MEDIUM = "medium"  # 中型
    LARGE = "large"  # 大型


class FinancialCondition(StrEnum):
    STRONG = "strong"
    SOUND = "sound"
    STRAINED = "strained"


class InstitutionType(StrEnum):
    FINANCIAL_INSTITUTION = "financial_institution"  # 金融机构
    SOCIAL_SECURITY_FUND = "social_security_fund"  # 社保基金
    ENTERPRISE_ANNUITY = "enterprise_annuity"  # 企业年金
    OTHER = "other"


class IndividualSegment(BaseModel):
    model_config = _MODEL
    kind: Literal[ClientKind.INDIVIDUAL] = ClientKind.INDIVIDUAL
    investment_band: InvestmentBand
    risk_tolerance: RiskProfile


class EnterpriseSegment(BaseModel):
    model_config = _MODEL
    kind: Literal[ClientKind.ENTERPRISE] = ClientKind.ENTERPRISE
    size: EnterpriseSize
    industry: Annotated[str, FreeText(max_length=80)] = Field(
        description="e.g. a GB/T 4754 section"
    )
    financial_condition: FinancialCondition

    @field_validator("industry")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("industry must not be blank")
        return value.strip()


class InstitutionSegment(BaseModel):
    model_config = _MODEL
    kind: Literal[ClientKind.INSTITUTION] = ClientKind.INSTITUTION
    business_type: InstitutionType
    investment_preference: RiskProfile


Segment = Annotated[
    IndividualSegment | EnterpriseSegment | InstitutionSegment, Field(discriminator="kind")
]


def investment_band(aum: Decimal, bands: SegmentPolicy) -> InvestmentBand:
    if aum >= bands.high_net_worth_from:
        return InvestmentBand.HIGH_NET_WORTH
    if aum >= bands.affluent_from:
        return InvestmentBand.AFFLUENT
    return InvestmentBand.MASS


def segment_for(
    kind: ClientKind,
    *,
    aum: Decimal,
    risk_profile: RiskProfile,
    bands: SegmentPolicy,
    declared: EnterpriseSegment | InstitutionSegment | IndividualSegment | None = None,
) -> IndividualSegment | EnterpriseSegment | InstitutionSegment | None:
    """The segment a client of `kind` belongs to: derived for individuals (a declared one is
    ignored, the firm's figures win), the declared one otherwise (None until declared)."""
    if kind is ClientKind.INDIVIDUAL:
        return IndividualSegment(
            investment_band=investment_band(aum, bands), risk_tolerance=risk_profile
        )
    if declared is not None and declared.kind is not kind:
        raise ValueError(f"a {declared.kind.value} segment cannot describe a {kind.value} client")
    return declared
