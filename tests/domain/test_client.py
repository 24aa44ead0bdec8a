"""The client file: identity and contact validation, segments, completeness."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from domain.client import (
    AssetClass,
    AssetHolding,
    BasicInfo,
    ClientFile,
    ClientMetrics,
    FinancialInfo,
    Gender,
    Goal,
    GoalKind,
    Income,
    IncomeKind,
    completeness,
)
from domain.enums import ClientKind, RiskProfile
from domain.policy import Policy, SegmentPolicy
from domain.questionnaire import QUESTIONS
from domain.segments import (
    EnterpriseSegment,
    EnterpriseSize,
    FinancialCondition,
    IndividualSegment,
    InstitutionSegment,
    InstitutionType,
    InvestmentBand,
)

ANSWERS = [1] * len(QUESTIONS)


def individual(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_id": "C-2027_0001",
        "kind": "individual",
        "basic": {
            "name": "Li Wei",
            "gender": "female",
            "birth_date": "1980-02-29",
            "phone": "138 1234 5678",
            "email": "li.wei@Example.COM",
            "address": "1 Century Avenue, Shanghai",
            "occupation": "engineer",
            "family_status": "married_with_children",
        },
        "financial": {
            "assets": [{"asset_class": "deposits", "amount": "800000"}],
            "liabilities": [],
            "income": [{"kind": "salary", "amount_annual": "600000"}],
            "goals": [
                {"kind": "education", "target_amount": "1000000", "target_date": "2035-09-01"}
            ],
        },
        "metrics": {"aum": "800000", "annual_contribution": "8000", "transactions_12m": 4},
        "advisor_id": "adv-7",
        "risk_answers": ANSWERS,
    }
    body.update(overrides)
    return body


# --- contact details --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("138 1234 5678", "+8613812345678"),
        ("+86 138-1234-5678", "+8613812345678"),
        ("0086 13812345678", "+8613812345678"),
        ("010-12345678", "+861012345678"),
        ("(0755) 8765 4321", "+8675587654321"),
        ("+852 9123 4567", "+85291234567"),
    ],
)
def test_phone_numbers_are_stored_in_one_form(typed: str, stored: str) -> None:
    assert BasicInfo(name="x", phone=typed).phone == stored


@pytest.mark.parametrize(
    "bad", ["12345", "23812345678", "1381234567", "call-me-maybe", "+0123456789"]
)
def test_a_malformed_phone_is_refused_without_echoing_it(bad: str) -> None:
    with pytest.raises(ValidationError) as refused:
        BasicInfo(name="x", phone=bad)
    assert "mainland mobile" in str(refused.value)
    assert bad not in str(refused.value)


def test_email_domain_is_lowercased_and_the_local_part_kept() -> None:
    assert BasicInfo(name="x", email=" Li.Wei@Example.COM ").email == "Li.Wei@example.com"


@pytest.mark.parametrize("bad", ["li.wei", "li@", "@example.com", "li wei@example.com", "li@host"])
def test_a_malformed_email_is_refused_without_echoing_it(bad: str) -> None:
    with pytest.raises(ValidationError) as refused:
        BasicInfo(name="x", email=bad)
    assert "name@example.com" in str(refused.value)
    assert f"'{bad}'" not in str(refused.value)


@pytest.mark.parametrize(("typed", "gender"), [("F", Gender.FEMALE), ("男", Gender.MALE)])
def test_gender_accepts_common_shorthands(typed: str, gender: Gender) -> None:
    assert BasicInfo.model_validate({"name": "x", "gender": typed}).gender is gender


def test_blank_text_is_refused_rather_than_stored() -> None:
    with pytest.raises(ValidationError, match="blank"):
        BasicInfo(name="   ")
    with pytest.raises(ValidationError, match="blank"):
        BasicInfo(name="x", occupation=" ")


def test_age_counts_completed_years_and_a_leap_day_birthday() -> None:
    info = BasicInfo(name="x", birth_date=date(1980, 2, 29))
    assert info.age_on(date(2027, 2, 28)) == 46
    assert info.age_on(date(2027, 3, 1)) == 47
    assert BasicInfo(name="x").age_on(date(2027, 1, 1)) is None


# --- identifiers ------------------------------------------------------------------------------


@pytest.mark.parametrize("good", ["C-2027_0001", "a", "X" * 64, "20240001234"])
def test_opaque_identifiers_are_accepted(good: str) -> None:
    assert ClientFile.model_validate(individual(client_id=good)).client_id == good


@pytest.mark.parametrize(
    "bad",
    ["", "has space", "li@example.com", "客户1", "X" * 65, "13812345678", "11010519491231002X"],
)
def test_identifiers_that_are_not_safe_or_look_personal_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="identifier"):
        ClientFile.model_validate(individual(client_id=bad))


def test_advisor_id_is_checked_like_a_client_id() -> None:
    with pytest.raises(ValidationError, match="advisor_id"):
        ClientFile.model_validate(individual(advisor_id="Wang Fang"))


# --- risk answers in the file -----------------------------------------------------------------


def test_risk_answers_give_the_profile() -> None:
    file = ClientFile.model_validate(individual())
    assessment = file.risk_assessment()
    assert assessment is not None and file.risk_profile() is assessment.profile
    assert ClientFile.model_validate(individual(risk_answers=None)).risk_profile() is (
        RiskProfile.UNASSESSED
    )


def test_incomplete_risk_answers_are_refused_naming_the_questions() -> None:
    with pytest.raises(ValidationError) as refused:
        ClientFile.model_validate(individual(risk_answers=ANSWERS[:-1]))
    assert QUESTIONS[-1].id in str(refused.value)


def test_a_risk_answer_given_as_text_is_refused_not_coerced() -> None:
    answers: list[object] = [*ANSWERS[:2], "1", *ANSWERS[3:]]
    with pytest.raises(ValidationError) as refused:
        ClientFile.model_validate(individual(risk_answers=answers))
    assert QUESTIONS[2].id in str(refused.value)


# --- segments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aum", "band"),
    [
        (Decimal(499_999), InvestmentBand.MASS),
        (Decimal(500_000), InvestmentBand.AFFLUENT),
        (Decimal(6_000_000), InvestmentBand.HIGH_NET_WORTH),
    ],
)
def test_an_individuals_segment_is_derived_from_aum_and_risk(
    aum: Decimal, band: InvestmentBand
) -> None:
    file = ClientFile.model_validate(individual(metrics={"aum": str(aum)}))
    segment = file.current_segment(Policy())
    assert segment == IndividualSegment(investment_band=band, risk_tolerance=file.risk_profile())


def test_investment_bands_come_from_the_policy() -> None:
    file = ClientFile.model_validate(individual(metrics={"aum": "1000"}))
    low_bar = Policy(
        segments=SegmentPolicy(affluent_from=Decimal(1000), high_net_worth_from=Decimal(5000))
    )
    segment = file.current_segment(low_bar)
    assert isinstance(segment, IndividualSegment)
    assert segment.investment_band is InvestmentBand.AFFLUENT


def test_an_enterprise_keeps_its_declared_segment() -> None:
    declared = EnterpriseSegment(
        size=EnterpriseSize.MEDIUM,
        industry="C Manufacturing",
        financial_condition=FinancialCondition.SOUND,
    )
    file = ClientFile.model_validate(
        individual(kind="enterprise", segment=declared.model_dump(mode="json"))
    )
    assert file.current_segment(Policy()) == declared


def test_a_segment_of_another_kind_is_refused() -> None:
    declared = InstitutionSegment(
        business_type=InstitutionType.SOCIAL_SECURITY_FUND,
        investment_preference=RiskProfile.CONSERVATIVE,
    )
    with pytest.raises(ValidationError, match="institution"):
        ClientFile.model_validate(individual(kind="enterprise", segment=declared.model_dump()))


# --- revising ---------------------------------------------------------------------------------


def test_revised_validates_again() -> None:
    file = ClientFile.model_validate(individual())
    assert file.revised(advisor_id="adv-8").advisor_id == "adv-8"
    with pytest.raises(ValidationError):
        file.revised(risk_answers=[99] * len(QUESTIONS))


def test_errors_about_the_file_never_echo_personal_data() -> None:
    with pytest.raises(ValidationError) as refused:
        ClientFile.model_validate(individual(basic={"name": "Li Wei", "phone": "555-SECRET"}))
    assert "555-SECRET" not in str(refused.value) and "Li Wei" not in str(refused.value)


# --- completeness -----------------------------------------------------------------------------


def test_a_full_individual_file_is_complete() -> None:
    report = completeness(ClientFile.model_validate(individual()))
    assert report.complete and report.missing == []


def test_a_sparse_individual_file_names_every_missing_field_in_order() -> None:
    file = ClientFile(client_id="c-1", kind=ClientKind.INDIVIDUAL, basic=BasicInfo(name="x"))
    report = completeness(file)
    assert not report.complete
    assert report.missing == [
        "basic.gender",
        "basic.birth_date",
        "basic.phone",
        "basic.email",
        "basic.address",
        "basic.occupation",
        "basic.family_status",
        "financial.assets",
        "financial.income",
        "financial.goals",
        "advisor_id",
        "risk_answers",
    ]


def test_no_liabilities_is_an_answer_not_a_gap() -> None:
    file = ClientFile.model_validate(individual())
    assert file.financial.liabilities == []
    assert "financial.liabilities" not in completeness(file).missing


def test_an_enterprise_needs_no_personal_fields_but_a_segment() -> None:
    file = ClientFile(
        client_id="e-1",
        kind=ClientKind.ENTERPRISE,
        basic=BasicInfo(name="Acme Ltd", phone="021-12345678", email="cfo@acme.cn", address="x"),
        financial=FinancialInfo(
            assets=[AssetHolding(asset_class=AssetClass.CASH, amount=Decimal(1))],
            income=[Income(kind=IncomeKind.OTHER, amount_annual=Decimal(1))],
            goals=[Goal(kind=GoalKind.OTHER, target_amount=Decimal(1))],
        ),
        metrics=ClientMetrics(),
        advisor_id="adv-1",
        risk_answers=ANSWERS,
    )
    assert completeness(file).missing == ["segment"]
