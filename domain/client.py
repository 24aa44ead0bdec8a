"""The client file (客户档案, DOMAIN §4): who the client is, what they own and owe, how they are
segmented, and what is still missing from the file.

Models holding personal data hide input values in validation errors, so a refused phone number
is never echoed into a log line or an error response.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from domain.client_changes import (
    ChangeAnalysis,
    ClientSnapshot,
    ConditionChange,
    FigureChange,
    RiskChange,
    Trend,
    analyse_changes,
)
from domain.consent import Consents
from domain.enums import ClientKind, RiskProfile
from domain.financial import (
    AssetClass,
    AssetHolding,
    ClientMetrics,
    FinancialInfo,
    Goal,
    GoalKind,
    Income,
    IncomeKind,
    Liability,
    LiabilityKind,
)
from domain.identifiers import ClientId, safe_identifier
from domain.policy import Policy
from domain.questionnaire import RiskAssessment, score_answers, validate_answers
from domain.sealed import Sealable, is_sealed
from domain.segments import (
    EnterpriseSegment,
    IndividualSegment,
    InstitutionSegment,
    Segment,
    segment_for,
)
from domain.text import FreeText

__all__ = [
    "AssetClass",
    "AssetHolding",
    "BasicInfo",
    "ChangeAnalysis",
    "ClientFile",
    "ClientId",
    "ClientMetrics",
    "ClientSnapshot",
    "CompletenessReport",
    "ConditionChange",
    "FamilyStatus",
    "FigureChange",
    "FinancialInfo",
    "Gender",
    "Goal",
    "GoalKind",
    "Income",
    "IncomeKind",
    "Liability",
    "LiabilityKind",
    "RiskChange",
    "Trend",
    "analyse_changes",
    "completeness",
    "safe_identifier",
]


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNDISCLOSED = "undisclosed"


_GENDER_ALIASES = {"m": "male", "男": "male", "f": "female", "女": "female"}


class FamilyStatus(StrEnum):
    SINGLE = "single"
    MARRIED = "married"
    MARRIED_WITH_CHILDREN = "married_with_children"
    DIVORCED = "divorced"
    WIDOWED = "widowed"
    OTHER = "other"


_SEPARATORS = re.compile(r"[\s\-().]")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_CN_LANDLINE = re.compile(r"^0[1-9]\d{8,10}$")  # area code with its 0, then 7-8 digits
_INTERNATIONAL = re.compile(r"^\+[1-9]\d{6,14}$")  # E.164
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(?:\.[^@\s.]+)+$")


def _phone(value: str) -> str:
    """Normalised to E.164 so the blind index finds a number however it was typed."""
    digits = _SEPARATORS.sub("", value)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if _CN_MOBILE.match(digits):
        return "+86" + digits
    if _CN_LANDLINE.match(digits):
        return "+86" + digits[1:]
    if _INTERNATIONAL.match(digits):
        return digits
    raise ValueError(
        "phone must be a mainland mobile number (11 digits starting with 1), a landline with "
        "its area code (starting with 0), or + country code and number"
    )


def _email(value: str) -> str:
    text = value.strip()
    if len(text) > 254 or not _EMAIL.match(text):
        raise ValueError("email must look like name@example.com")
    local, _, domain_part = text.rpartition("@")
    return f"{local}@{domain_part.lower()}"


Personal = Annotated[str, FreeText(max_length=200), Sealable()]


class BasicInfo(BaseModel):
    """Who the person is. The personal fields hold plaintext or, from the command layer on, a
    token sealed under the client's own data key (`domain.sealed`): their rules below apply to
    plaintext, which the command layer checks before it seals. What workflow logic needs stays
    readable: gender and family status (enumerations), and `birth_month_day`, the birthday
    without its year, which the greetings are planned from (the full date is sealed)."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    name: Personal
    gender: Gender | None = None
    birth_date: Annotated[date | str, Sealable(date)] | None = None
    birth_month_day: str | None = Field(
        default=None,
        pattern=r"^\d{2}-\d{2}$",
        description="MM-DD: the birthday greetings need no more (set when birth_date is sealed)",
    )
    phone: Annotated[str, FreeText(max_length=40), Sealable()] | None = None
    email: Annotated[str, FreeText(max_length=254), Sealable()] | None = None
    address: Annotated[str, FreeText(max_length=500, multiline=True), Sealable()] | None = None
    occupation: Personal | None = None
    family_status: FamilyStatus | None = None
    id_number: Annotated[str, FreeText(max_length=40), Sealable()] | None = None

    @field_validator("name", "address", "occupation", "id_number", "phone", "email")
    @classmethod
    def _no_blank(cls, value: str | None) -> str | None:
        if value is None or is_sealed(value):
            return value
        if not value.strip():
            raise ValueError("must not be blank; leave it out if unknown")
        return value.strip()

    @field_validator("phone")
    @classmethod
    def _phone_shape(cls, value: str | None) -> str | None:
        return value if value is None or is_sealed(value) else _phone(value)

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str | None) -> str | None:
        return value if value is None or is_sealed(value) else _email(value)

    @field_validator("birth_month_day")
    @classmethod
    def _month_day(cls, value: str | None) -> str | None:
        if value is not None:
            month, day = int(value[:2]), int(value[3:])
            try:
                date(2000, month, day)  # a leap year: 02-29 is a birthday
            except ValueError:
                raise ValueError("birth_month_day must be a day of the year as MM-DD") from None
        return value

    @model_validator(mode="after")
    def _birthday_agrees(self) -> BasicInfo:
        if isinstance(self.birth_date, date) and self.birth_month_day is not None:
            if self.birth_date.strftime("%m-%d") != self.birth_month_day:
                raise ValueError("birth_month_day differs from birth_date")
        return self

    @field_validator("gender", mode="before")
    @classmethod
    def _gender_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().lower()
            return _GENDER_ALIASES.get(text, text)
        return value

    def birthday(self) -> date | None:
        """The birthday in a leap year (2000): its month and day are all that is known once
        the full date is sealed, and all the greetings use."""
        if isinstance(self.birth_date, date):
            return self.birth_date.replace(year=2000)
        if self.birth_month_day is not None:
            return date(2000, int(self.birth_month_day[:2]), int(self.birth_month_day[3:]))
        return None

    def age_on(self, day: date) -> int | None:
        if not isinstance(self.birth_date, date):
            return None  # unknown, or sealed: the year is not the workflow's to know
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday


Language = Literal["zh-CN", "en"]
"""The languages the firm writes to clients in (`config/messages/<language>/`)."""


class ClientFile(BaseModel):
    """Frozen: change it with `revised`, which validates again (`model_copy` would not)."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    client_id: ClientId
    kind: ClientKind
    basic: BasicInfo
    financial: FinancialInfo = FinancialInfo()
    segment: Segment | None = Field(
        default=None, description="declared for enterprises and institutions; derived otherwise"
    )
    metrics: ClientMetrics = ClientMetrics()
    advisor_id: Annotated[str, AfterValidator(safe_identifier)] | None = None
    consents: Consents = Consents()
    language: Language = Field(
        default="zh-CN", description="the language of the messages the client receives"
    )
    risk_answers: list[int] | None = Field(
        default=None, description="option indexes, one per question; None = unassessed"
    )

    @field_validator("risk_answers", mode="before")
    @classmethod
    def _answers(cls, value: Any) -> Any:
        # Before pydantic's own int coercion, so "2" or True are refused by question id.
        return None if value is None else validate_answers(value)

    @model_validator(mode="after")
    def _segment_matches_kind(self) -> ClientFile:
        if self.segment is not None and self.segment.kind is not self.kind:
            raise ValueError(
                f"segment is for a {self.segment.kind.value} client, "
                f"but this client is {self.kind.value}"
            )
        return self

    def revised(self, **changes: Any) -> ClientFile:
        return ClientFile.model_validate({**dict(self), **changes})

    def risk_assessment(self) -> RiskAssessment | None:
        return None if self.risk_answers is None else score_answers(self.risk_answers)

    def risk_profile(self) -> RiskProfile:
        assessment = self.risk_assessment()
        return RiskProfile.UNASSESSED if assessment is None else assessment.profile

    def current_segment(
        self, policy: Policy
    ) -> IndividualSegment | EnterpriseSegment | InstitutionSegment | None:
        return segment_for(
            self.kind,
            aum=self.metrics.aum,
            risk_profile=self.risk_profile(),
            bands=policy.segments,
            declared=self.segment,
        )

    def snapshot(self) -> ClientSnapshot:
        assessment = self.risk_assessment()
        return ClientSnapshot(
            financial=self.financial,
            metrics=self.metrics,
            risk_level=None if assessment is None else assessment.level,
        )


class CompletenessReport(BaseModel):
    model_config = ConfigDict(frozen=True)
    missing: list[str]
    complete: bool


# Fields about a person; an enterprise or institution has none of them.
_PERSONAL_ONLY = ("gender", "birth_date", "occupation", "family_status")


def completeness(file: ClientFile) -> CompletenessReport:
    """Names every missing field by dotted path, in file order.

    An empty liabilities list is an answer (debt-free), so it is never reported; empty assets,
    income or goals mean the advisor has not collected them yet.
    """
    missing: list[str] = []
    individual = file.kind is ClientKind.INDIVIDUAL
    for field in BasicInfo.model_fields:
        if field in ("id_number", "birth_month_day") or (
            field in _PERSONAL_ONLY and not individual
        ):
            # id_number: collected only when a product requires it (minimum necessary);
            # birth_month_day: part of birth_date
            continue
        if getattr(file.basic, field) is None:
            missing.append(f"basic.{field}")
    for field in ("assets", "income", "goals"):
        if not getattr(file.financial, field):
            missing.append(f"financial.{field}")
    if not individual and file.segment is None:
        missing.append("segment")
    if file.advisor_id is None:
        missing.append("advisor_id")
    if file.risk_answers is None:
        missing.append("risk_answers")
    return CompletenessReport(missing=missing, complete=not missing)
