"""Appraisal: KPI scores on 0–100, weighted by the policy, blended with the supervisor's ratings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.appraisal import QualitativeInput, appraise, band, kpi_scores, quantitative_score
from domain.policy import AppraisalPolicy, KpiWeights, Policy

DEFAULT = AppraisalPolicy()

ADVISOR_MONTH = {
    "csat": 0.8,  # 80
    "nps": 20.0,  # (20 + 100) / 2 = 60
    "callback_completion": 0.5,  # 50
    "retention": 0.9,  # 90
    "aum_growth": 0.005,  # half the 1 % target: 50
    "repeat_complaints": 0.25,  # 75: lower is better
    "deadline_compliance": None,  # advisors do not handle complaints
    "callbacks_due": 4,  # a count, not a KPI: never scored
}


def test_worked_example_with_the_default_weights() -> None:
    result = appraise(ADVISOR_MONTH, DEFAULT, QualitativeInput(conduct=5, client_feedback=4))
    assert result.kpi_scores == {
        "csat": 80.0,
        "nps": 60.0,
        "callback_completion": 50.0,
        "retention": 90.0,
        "aum_growth": 50.0,
        "repeat_complaints": 75.0,
    }
    # (80·.20 + 60·.10 + 50·.20 + 90·.10 + 50·.05 + 75·.05) / .70 = 47.25 / .70
    assert result.quantitative == pytest.approx(67.5)
    assert result.coverage == pytest.approx(0.70)
    assert result.qualitative == pytest.approx(87.5)  # mean rating 4.5 on 1–5
    assert result.total == pytest.approx(0.7 * 67.5 + 0.3 * 87.5)
    assert result.band == "standard"


def test_either_part_alone_stands_for_the_total() -> None:
    assert appraise(ADVISOR_MONTH, DEFAULT).total == pytest.approx(67.5)
    judged_only = appraise({}, DEFAULT, QualitativeInput(conduct=1))
    assert (judged_only.quantitative, judged_only.total, judged_only.band) == (
        None,
        0.0,
        "deduction",
    )
    nothing = appraise({}, DEFAULT)
    assert (nothing.total, nothing.band, nothing.coverage) == (None, None, 0.0)


def test_scales_clamp_to_zero_and_hundred() -> None:
    scores = kpi_scores({"aum_growth": -0.2, "nps": 100.0, "retention": 1.0}, DEFAULT)
    assert scores == {"aum_growth": 0.0, "nps": 100.0, "retention": 100.0}
    assert kpi_scores({"aum_growth": 0.05}, DEFAULT) == {"aum_growth": 100.0}


def test_weights_are_configurable() -> None:
    only_csat = AppraisalPolicy(
        weights=KpiWeights(**{k: 0.0 for k in KpiWeights.model_fields} | {"csat": 1.0})
    )
    result = appraise(ADVISOR_MONTH, only_csat)
    assert (result.quantitative, result.coverage) == (80.0, 1.0)


def test_bands_follow_the_policy_thresholds() -> None:
    assert [band(s, DEFAULT) for s in (85.0, 84.99, 60.0, 59.99)] == [
        "reward", "standard", "standard", "deduction"
    ]  # fmt: skip
    assert band(None, DEFAULT) is None


def test_policy_refuses_meaningless_appraisal_settings() -> None:
    with pytest.raises(ValidationError, match="positive weight"):
        KpiWeights(**dict.fromkeys(KpiWeights.model_fields, 0.0))
    with pytest.raises(ValidationError, match="deduct_below"):
        AppraisalPolicy(reward_at=50, deduct_below=70)
    with pytest.raises(ValidationError):
        QualitativeInput(conduct=6)


def test_every_weighted_kpi_has_a_scale() -> None:
    """A weight the scorer cannot read would silently count for nothing."""
    every = dict.fromkeys(KpiWeights.model_fields, 0.5)
    assert set(kpi_scores(every, Policy().appraisal)) == set(KpiWeights.model_fields)


@given(
    st.dictionaries(st.sampled_from(sorted(KpiWeights.model_fields)), st.floats(0, 1), min_size=1)
)
def test_score_lies_between_the_worst_and_best_kpi(metrics: dict[str, float]) -> None:
    scores = kpi_scores(metrics, DEFAULT)
    score, coverage = quantitative_score(scores, DEFAULT)
    assert score is not None and 0 < coverage <= 1
    assert min(scores.values()) - 0.01 <= score <= max(scores.values()) + 0.01
