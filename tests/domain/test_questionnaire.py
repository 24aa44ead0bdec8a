"""The risk questionnaire: its contract shape, its scoring into C1–C5, and every refusal."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.enums import RiskLevel, RiskProfile
from domain.questionnaire import (
    QUESTIONS,
    AnswerError,
    level_for,
    profile_for,
    questionnaire_json,
    score_answers,
    score_bands,
)


def lowest() -> list[int]:
    return [min(range(len(q.options)), key=lambda i: q.options[i].score) for q in QUESTIONS]


def highest() -> list[int]:
    return [max(range(len(q.options)), key=lambda i: q.options[i].score) for q in QUESTIONS]


# --- the instrument ---------------------------------------------------------------------------


def test_json_has_exactly_the_contract_shape() -> None:
    doc = json.loads(json.dumps(questionnaire_json()))
    assert list(doc) == ["questions"]
    assert len(doc["questions"]) >= 10
    for question in doc["questions"]:
        assert set(question) == {"id", "text", "options"}
        assert len(question["options"]) >= 2
        for option in question["options"]:
            assert set(option) == {"text", "score"}
            assert isinstance(option["score"], int) and option["text"]


def test_question_ids_are_unique_and_cover_the_policy_topics() -> None:
    ids = [q.id for q in QUESTIONS]
    assert len(ids) == len(set(ids))
    for topic in (
        "age",
        "income_stability",
        "investment_experience",
        "horizon",
        "loss_tolerance",
        "goal",
        "invested_share",
        "knowledge",
        "drawdown_reaction",
        "liquidity_needs",
    ):
        assert topic in ids


def test_bands_are_contiguous_and_span_exactly_the_reachable_scores() -> None:
    bands = score_bands()
    assert [level for _, _, level in bands] == list(RiskLevel)
    for (_, high, _), (low, _, _) in pairwise(bands):
        assert low == high + 1
    assert bands[0][0] == score_answers(lowest()).score
    assert bands[-1][1] == score_answers(highest()).score


# --- scoring ----------------------------------------------------------------------------------


def test_the_most_cautious_answers_are_c1_conservative() -> None:
    result = score_answers(lowest())
    assert (result.level, result.profile) == (RiskLevel.C1, RiskProfile.CONSERVATIVE)


def test_the_boldest_answers_are_c5_aggressive() -> None:
    result = score_answers(highest())
    assert (result.level, result.profile) == (RiskLevel.C5, RiskProfile.AGGRESSIVE)


def test_a_worked_example_adds_the_chosen_options_scores() -> None:
    # 31–45 (10), stable salary (7), 2–5 years (6), basics (4), 3–5 years (7), steady income (4),
    # up to 5% (3), hold (7), 30–50% (5), part within a year (4): 57 points, C3 balanced.
    result = score_answers([1, 2, 2, 1, 2, 1, 1, 2, 2, 1])
    assert result.score == 57
    assert (result.level, result.profile) == (RiskLevel.C3, RiskProfile.BALANCED)


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (0, RiskLevel.C1),
        (20, RiskLevel.C1),
        (21, RiskLevel.C2),
        (40, RiskLevel.C2),
        (41, RiskLevel.C3),
        (60, RiskLevel.C3),
        (61, RiskLevel.C4),
        (80, RiskLevel.C4),
        (81, RiskLevel.C5),
        (100, RiskLevel.C5),
    ],
)
def test_band_edges(score: int, level: RiskLevel) -> None:
    assert level_for(score) is level


def test_a_score_above_the_maximum_is_refused() -> None:
    with pytest.raises(ValueError, match="maximum"):
        level_for(score_bands()[-1][1] + 1)


def test_levels_map_onto_three_profiles() -> None:
    assert [profile_for(level) for level in RiskLevel] == [
        RiskProfile.CONSERVATIVE,
        RiskProfile.CONSERVATIVE,
        RiskProfile.BALANCED,
        RiskProfile.AGGRESSIVE,
        RiskProfile.AGGRESSIVE,
    ]


answer_sets = st.tuples(*(st.integers(0, len(q.options) - 1) for q in QUESTIONS)).map(list)


@settings(max_examples=60)
@given(answer_sets)
def test_any_valid_answers_score_inside_the_band_of_their_level(answers: list[int]) -> None:
    result = score_answers(answers)
    assert result.score == sum(q.options[i].score for q, i in zip(QUESTIONS, answers, strict=True))
    low, high = next((lo, hi) for lo, hi, level in score_bands() if level is result.level)
    assert low <= result.score <= high
    assert result.profile is profile_for(result.level)


@settings(max_examples=60)
@given(answer_sets, st.integers(0, len(QUESTIONS) - 1))
def test_a_bolder_answer_never_lowers_the_level(answers: list[int], position: int) -> None:
    question = QUESTIONS[position]
    bolder = max(range(len(question.options)), key=lambda i: question.options[i].score)
    raised = [*answers[:position], bolder, *answers[position + 1 :]]
    order = list(RiskLevel)
    assert order.index(score_answers(raised).level) >= order.index(score_answers(answers).level)


# --- refusals name the question ---------------------------------------------------------------


def test_too_few_answers_say_how_many_and_which_are_missing() -> None:
    with pytest.raises(AnswerError) as refused:
        score_answers([0] * (len(QUESTIONS) - 2))
    message = str(refused.value)
    assert f"expected {len(QUESTIONS)}" in message
    assert QUESTIONS[-2].id in message and QUESTIONS[-1].id in message


def test_too_many_answers_say_how_many_and_name_the_last_question() -> None:
    with pytest.raises(AnswerError) as refused:
        score_answers([0] * (len(QUESTIONS) + 1))
    assert f"expected {len(QUESTIONS)}" in str(refused.value)
    assert QUESTIONS[-1].id in str(refused.value)


@pytest.mark.parametrize("answers", [None, "0123456789", {"age": 0}, 7])
def test_answers_that_are_not_a_list_are_refused(answers: object) -> None:
    with pytest.raises(AnswerError, match="list"):
        score_answers(answers)  # type: ignore[arg-type]


bad_values = st.one_of(
    st.integers(max_value=-1),
    st.integers(min_value=10),
    st.booleans(),
    st.floats(allow_nan=False),
    st.text(max_size=3),
    st.none(),
)


@settings(max_examples=80)
@given(answer_sets, st.integers(0, len(QUESTIONS) - 1), bad_values)
def test_every_bad_answer_is_refused_naming_its_question(
    answers: list[int], position: int, bad: object
) -> None:
    question = QUESTIONS[position]
    if isinstance(bad, int) and not isinstance(bad, bool) and 0 <= bad < len(question.options):
        return  # a valid index for this question
    broken: list[object] = [*answers[:position], bad, *answers[position + 1 :]]
    with pytest.raises(AnswerError) as refused:
        score_answers(broken)
    assert refused.value.question_id == question.id
    assert repr(question.id) in str(refused.value)


def test_an_out_of_range_answer_names_the_allowed_range() -> None:
    first = QUESTIONS[0]
    with pytest.raises(AnswerError, match=f"from 0 to {len(first.options) - 1}"):
        score_answers([len(first.options)] + [0] * (len(QUESTIONS) - 1))


def test_answer_error_is_a_value_error() -> None:
    assert issubclass(AnswerError, ValueError)
