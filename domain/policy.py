"""The policy file's model: every number DOMAIN.md leaves open, with its defaults.

Loading the file is I/O and lives in `infra.policy_file`; this module only validates values, so
workflows receive a `Policy` in their input and never read files or settings themselves.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.enums import Tier
from domain.periods import IsoPeriod, Period
from domain.text import Line

_STRICT = ConfigDict(extra="forbid", frozen=True)


def _p(text: str) -> Period:
    return Period.parse(text)


class TierThreshold(BaseModel):
    model_config = _STRICT
    aum: Decimal = Field(ge=0, description="assets under management, CNY")
    annual_contribution: Decimal = Field(ge=0, description="revenue to the firm, CNY per year")
    transactions_12m: int = Field(ge=0)


class TieringPolicy(BaseModel):
    model_config = _STRICT
    diamond: TierThreshold = TierThreshold(
        aum=Decimal(10_000_000), annual_contribution=Decimal(100_000), transactions_12m=12
    )
    platinum: TierThreshold = TierThreshold(
        aum=Decimal(3_000_000), annual_contribution=Decimal(30_000), transactions_12m=6
    )
    gold: TierThreshold = TierThreshold(
        aum=Decimal(500_000), annual_contribution=Decimal(5_000), transactions_12m=2
    )
    downgrade_after_reviews: int = Field(default=2, ge=1, le=12)
    review_every: IsoPeriod = _p("P3M")
    review_page_size: int = Field(default=500, ge=1, le=10_000)

    def threshold(self, tier: Tier) -> TierThreshold | None:
        return {Tier.DIAMOND: self.diamond, Tier.PLATINUM: self.platinum, Tier.GOLD: self.gold}.get(
            tier
        )

    @model_validator(mode="after")
    def _ordered(self) -> TieringPolicy:
        for field in ("aum", "annual_contribution", "transactions_12m"):
            d, p, g = (getattr(t, field) for t in (self.diamond, self.platinum, self.gold))
            if not d >= p >= g:
                raise ValueError(f"tiers.*.{field} must not increase from diamond to gold")
        return self


class SegmentPolicy(BaseModel):
    """Investment-amount bands that sub-segment individual clients (DOMAIN §2), CNY of AUM."""

    model_config = _STRICT
    affluent_from: Decimal = Field(default=Decimal(500_000), ge=0)
    high_net_worth_from: Decimal = Field(default=Decimal(6_000_000), ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> SegmentPolicy:
        if self.affluent_from > self.high_net_worth_from:
            raise ValueError("segments.affluent_from must not exceed segments.high_net_worth_from")
        return self


class ServicePolicy(BaseModel):
    model_config = _STRICT
    callback_every: dict[Tier, IsoPeriod] = {
        Tier.DIAMOND: _p("P1M"),
        Tier.PLATINUM: _p("P3M"),
        Tier.GOLD: _p("P6M"),
        Tier.REGULAR: _p("P1Y"),
    }
    callback_grace: IsoPeriod = _p("P7D")
    plan_review_every: IsoPeriod = _p("P6M")
    risk_assessment_valid_for: IsoPeriod = _p("P1Y")
    callback_jitter: IsoPeriod = Field(
        default=_p("P3D"), description="callbacks spread deterministically per client over this"
    )
    contact_hour: int = Field(default=10, ge=0, le=23, description="local hour greetings go out")
    greeting_spread: IsoPeriod | None = Field(
        default=None,
        description="greetings go out across this window after contact_hour, at an offset fixed "
        "per client, so a holiday does not wake every client in the same minute (unset: all at "
        "contact_hour, as policies written before this setting had it)",
    )
    contact_window_start: int = Field(
        default=9, ge=0, le=23, description="local hour from which clients may be contacted"
    )
    contact_window_end: int = Field(
        default=21, ge=1, le=24, description="local hour from which they may not, until the start"
    )
    continue_as_new_after: IsoPeriod = _p("P1Y")

    @model_validator(mode="after")
    def _window(self) -> ServicePolicy:
        if self.contact_window_start >= self.contact_window_end:
            raise ValueError("service.contact_window_start must be before contact_window_end")
        return self

    @model_validator(mode="after")
    def _spread_within_the_day(self) -> ServicePolicy:
        spread = self.greeting_spread.approx() if self.greeting_spread else timedelta(0)
        if self.contact_hour + spread / timedelta(hours=1) > 24:
            raise ValueError("service.greeting_spread runs past midnight from contact_hour")
        return self

    @field_validator("callback_every")
    @classmethod
    def _every_tier(cls, value: dict[Tier, Period]) -> dict[Tier, Period]:
        missing = [t.value for t in Tier if t not in value]
        if missing:
            raise ValueError(f"a callback cadence is required for every tier; missing {missing}")
        return value


class HolidayPolicy(BaseModel):
    model_config = _STRICT
    country: str = "CN"
    greet: list[str] = [
        "New Year's Day",
        "Chinese New Year (Spring Festival)",
        "Dragon Boat Festival",
        "Mid-Autumn Festival",
        "National Day",
    ]


class ComplaintPolicy(BaseModel):
    model_config = _STRICT
    acknowledge_within: IsoPeriod = _p("PT24H")
    assess_within: IsoPeriod = _p("P2D")
    decision_within: IsoPeriod = _p("P15D")
    decision_within_complex: IsoPeriod = _p("P30D")
    extension: IsoPeriod = _p("P30D")
    max_extensions: int = Field(default=1, ge=0)
    extension_approvers: list[str] | None = Field(
        default=None,
        description="the staff holding the extension-approval role, senior to handlers (a "
        "superior institution or head-office senior management, CBIRC 2020); an extension "
        "approved by anyone else is refused. Unset: anyone but the handler, as policies "
        "written before this setting had it",
    )
    warn_before: IsoPeriod = _p("P3D")
    survey_reminders: list[IsoPeriod] = [_p("P3D"), _p("P7D")]
    survey_timeout: IsoPeriod = _p("P14D")
    satisfied_at: int = Field(default=4, ge=1, le=5)


class SchedulePolicy(BaseModel):
    model_config = _STRICT
    tier_review_cron: str = "0 2 1 1,4,7,10 *"
    kpi_report_cron: str = "0 3 1 * *"


class KpiWeights(BaseModel):
    """Relative weights of the KPIs in the quantitative appraisal score (need not sum to 1).

    A KPI with no evidence for a subject (say, no complaints for an advisor) is left out and the
    remaining weights are rescaled, so nobody is rewarded or punished for an absent metric.
    """

    model_config = _STRICT
    csat: float = Field(default=0.20, ge=0)
    nps: float = Field(default=0.10, ge=0)
    callback_completion: float = Field(default=0.20, ge=0)
    deadline_compliance: float = Field(default=0.15, ge=0)
    complaint_satisfaction: float = Field(default=0.15, ge=0)
    retention: float = Field(default=0.10, ge=0)
    aum_growth: float = Field(default=0.05, ge=0)
    repeat_complaints: float = Field(default=0.05, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> KpiWeights:
        if not any(v > 0 for v in self.model_dump().values()):
            raise ValueError("appraisal.weights: at least one KPI needs a positive weight")
        return self


class AppraisalPolicy(BaseModel):
    """Supervision and appraisal (DOMAIN §7): how KPIs become scores, and scores bonus bands."""

    model_config = _STRICT
    weights: KpiWeights = KpiWeights()
    qualitative_weight: float = Field(
        default=0.30, ge=0, le=1, description="share of conduct and client feedback in the total"
    )
    aum_growth_target: float = Field(
        default=0.01, gt=0, description="AUM growth per reporting period that earns full marks"
    )
    repeat_complaint_window: IsoPeriod = _p("P12M")
    reward_at: float = Field(default=85, ge=0, le=100, description="score from which a bonus")
    deduct_below: float = Field(default=60, ge=0, le=100, description="score under which a cut")

    @model_validator(mode="after")
    def _bands(self) -> AppraisalPolicy:
        if self.deduct_below > self.reward_at:
            raise ValueError("appraisal.deduct_below must not exceed appraisal.reward_at")
        return self


class HeldRecords(StrEnum):
    """What a retention hold keeps. The client's workflow holds the whole record while any hold
    runs (README, "Erasure and legal holds"): identity and transaction records are not
    separable from the rest of its file and history without a key of their own."""

    IDENTITY = "identity"
    TRANSACTIONS = "transactions"


AML_MINIMUM = Period(months=120)
"""Anti-money-laundering law: identity and transaction records are kept at least 10 years after
the business relationship ends (DOMAIN §8)."""


class RetentionHold(BaseModel):
    """A retention another law sets, which a PIPL deletion request must wait for: until
    `keep_for` after the relationship ends (`client offboard`), counted as a deadline is (the
    end of the firm's local day on which it falls)."""

    model_config = _STRICT
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$", description="e.g. aml; shown, logged")
    records: list[HeldRecords] = Field(min_length=1)
    keep_for: IsoPeriod = Field(description="after the relationship ends")
    basis: Line = Field(description="the law that sets it")

    @model_validator(mode="after")
    def _at_least_the_law(self) -> RetentionHold:
        if len(set(self.records)) != len(self.records):
            raise ValueError(f"privacy.holds {self.name}: a record kind is listed twice")
        if self.keep_for.approx() < AML_MINIMUM.approx():
            raise ValueError(
                f"privacy.holds {self.name}: identity and transaction records are kept at least "
                "P10Y after the relationship ends (AML law)"
            )
        return self


class PrivacyPolicy(BaseModel):
    """What a deletion request must respect (PIPL Art. 47 with the retention other laws set),
    and how soon a data-subject request (Art. 44-47) is answered. PIPL sets no answer period;
    15 calendar days (counted like a complaint's: the day of receipt not counted, ending at 24:00
    local) is the firm's, half the 30 days of the national guideline GB/T 35273-2020 §8.7, and
    the period the firm already keeps for complaints, so one desk works to one clock."""

    model_config = _STRICT
    subject_request_within: IsoPeriod = _p("P15D")
    officer: str = Field(
        default="privacy-officer",
        min_length=1,
        max_length=64,
        description="who is told when a request is overdue (the PIPL Art. 52 officer's desk)",
    )
    holds: list[RetentionHold] = Field(
        default=[],
        description="unset: no hold, an erasure shreds at once (what policies written before "
        "this setting meant; the shipped file sets the AML hold)",
    )

    @model_validator(mode="after")
    def _distinct(self) -> PrivacyPolicy:
        names = [h.name for h in self.holds]
        if len(set(names)) != len(names):
            raise ValueError("privacy.holds: two holds share a name")
        return self

    def longest(self) -> RetentionHold | None:
        """The hold that ends last: the whole record is kept until then."""
        return max(self.holds, key=lambda h: h.keep_for.approx(), default=None)


class Policy(BaseModel):
    model_config = _STRICT
    timezone: str = "Asia/Shanghai"
    tiers: TieringPolicy = TieringPolicy()
    segments: SegmentPolicy = SegmentPolicy()
    service: ServicePolicy = ServicePolicy()
    holidays: HolidayPolicy = HolidayPolicy()
    complaints: ComplaintPolicy = ComplaintPolicy()
    schedules: SchedulePolicy = SchedulePolicy()
    appraisal: AppraisalPolicy = AppraisalPolicy()
    privacy: PrivacyPolicy = PrivacyPolicy()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
