"""The risk questionnaire (风险测评问卷) and its scoring into levels C1–C5 (DOMAIN §2).

Ten questions, each worth 0–10 points, so a score runs from 0 to 100. Bands, inclusive:
C1 保守 0–20, C2 谨慎 21–40, C3 稳健 41–60, C4 积极 61–80, C5 激进 81–100.
The questions, scores and bands are one instrument: change any of them and earlier scores stop
being comparable, so they change together, as a new `QUESTIONNAIRE_VERSION`, never in config.

Answers are zero-based option indexes, one per question, in the questionnaire's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.enums import RiskLevel, RiskProfile

QUESTIONNAIRE_VERSION = "CC-RQ-2025.1"


class AnswerError(ValueError):
    """A refused set of answers; `question_id` names the question at fault (None: the count)."""

    def __init__(self, message: str, question_id: str | None = None) -> None:
        super().__init__(message)
        self.question_id = question_id


class Option(BaseModel):
    model_config = ConfigDict(frozen=True)
    text: str
    score: int


class Question(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    text: str
    options: tuple[Option, ...]


class RiskAssessment(BaseModel):
    model_config = ConfigDict(frozen=True)
    score: int
    level: RiskLevel
    profile: RiskProfile
    version: str = QUESTIONNAIRE_VERSION


def _q(qid: str, text: str, *options: tuple[str, int]) -> Question:
    return Question(id=qid, text=text, options=tuple(Option(text=t, score=s) for t, s in options))


QUESTIONS: tuple[Question, ...] = (
    _q(
        "age",
        "How old are you? (年龄)",
        ("18–30", 8),
        ("31–45", 10),
        ("46–60", 6),
        ("61–70", 3),
        ("Over 70", 0),
    ),
    _q(
        "income_stability",
        "Which best describes your income? (收入来源及稳定性)",
        ("No regular income", 0),
        ("A pension, or income that varies a lot", 3),
        ("A stable salary", 7),
        ("A stable salary plus substantial business or investment income", 10),
    ),
    _q(
        "investment_experience",
        "How long have you invested in anything other than deposits? (投资经验)",
        ("Never; only bank deposits", 0),
        ("Under 2 years, mainly wealth-management products or bond funds (理财产品、债券基金)", 3),
        ("2–5 years, including stocks or equity funds", 6),
        ("5–10 years, including stocks or equity funds", 8),
        ("Over 10 years, including derivatives or structured products (衍生品、结构性产品)", 10),
    ),
    _q(
        "knowledge",
        "How well do you know financial products? (金融知识)",
        ("Very little", 0),
        ("The basics: how deposits, bonds and stocks differ", 4),
        ("Well: fund types, valuation, diversification", 7),
        ("Professionally: I work in finance or hold a financial qualification", 10),
    ),
    _q(
        "horizon",
        "How long do you plan to keep this money invested? (投资期限)",
        ("Less than 1 year", 0),
        ("1–3 years", 4),
        ("3–5 years", 7),
        ("More than 5 years", 10),
    ),
    _q(
        "goal",
        "What is the main goal of this investment? (投资目标)",
        ("Keep the principal safe, with returns a little above deposits", 0),
        ("Steady income with small ups and downs", 4),
        ("Balanced growth, accepting moderate ups and downs", 7),
        ("The most long-term growth, accepting large swings", 10),
    ),
    _q(
        "loss_tolerance",
        "What is the largest loss of principal you could accept in a year? (可承受亏损)",
        ("None", 0),
        ("Up to 5%", 3),
        ("5%–15%", 6),
        ("15%–30%", 8),
        ("More than 30%", 10),
    ),
    _q(
        "drawdown_reaction",
        "If your investments fell 20% in three months, what would you do? (市场下跌时的反应)",
        ("Sell everything", 0),
        ("Sell part of them to reduce risk", 3),
        ("Hold and wait for a recovery", 7),
        ("Buy more at the lower price", 10),
    ),
    _q(
        "invested_share",
        "What share of your financial assets will this investment be? (投资占金融资产比例)",
        ("More than 70%", 0),
        ("50%–70%", 3),
        ("30%–50%", 5),
        ("10%–30%", 8),
        ("Less than 10%", 10),
    ),
    _q(
        "liquidity_needs",
        "When might you need this money back? (流动性需求)",
        ("Possibly most of it within 6 months", 0),
        ("Possibly part of it within a year", 4),
        ("Unlikely within 3 years", 7),
        ("Not for more than 5 years", 10),
    ),
)

# Upper score of each level, inclusive, lowest first.
_BANDS: tuple[tuple[int, RiskLevel], ...] = (
    (20, RiskLevel.C1),
    (40, RiskLevel.C2),
    (60, RiskLevel.C3),
    (80, RiskLevel.C4),
    (100, RiskLevel.C5),
)

_PROFILES = {
    RiskLevel.C1: RiskProfile.CONSERVATIVE,
    RiskLevel.C2: RiskProfile.CONSERVATIVE,
    RiskLevel.C3: RiskProfile.BALANCED,
    RiskLevel.C4: RiskProfile.AGGRESSIVE,
    RiskLevel.C5: RiskProfile.AGGRESSIVE,
}


def questionnaire_json() -> dict[str, Any]:
    """The contract shape: {"questions": [{"id", "text", "options": [{"text", "score"}]}]}."""
    return {"questions": [q.model_dump(mode="json") for q in QUESTIONS]}


def score_bands() -> list[tuple[int, int, RiskLevel]]:
    """(lowest score, highest score, level) for each level, lowest first."""
    bands, low = [], 0
    for high, level in _BANDS:
        bands.append((low, high, level))
        low = high + 1
    return bands


def level_for(score: int) -> RiskLevel:
    for high, level in _BANDS:
        if score <= high:
            return level
    raise ValueError(f"score {score} is above the questionnaire's maximum {_BANDS[-1][0]}")


def profile_for(level: RiskLevel) -> RiskProfile:
    """C1–C2 conservative, C3 balanced, C4–C5 aggressive."""
    return _PROFILES[level]


def validate_answers(answers: object) -> list[int]:
    """The answers as option indexes, or `AnswerError` naming the question at fault.

    Strict on purpose: a bool or "2" is not an index, and coercing it would record an answer the
    client never gave.
    """
    if isinstance(answers, str | bytes) or not isinstance(answers, Sequence):
        raise AnswerError(
            f"risk answers must be a list of {len(QUESTIONS)} option indexes, "
            "one per question in order"
        )
    if len(answers) != len(QUESTIONS):
        raise AnswerError(_count_message(len(answers)))
    checked: list[int] = []
    for question, answer in zip(QUESTIONS, answers, strict=True):
        last = len(question.options) - 1
        if isinstance(answer, bool) or not isinstance(answer, int):
            raise AnswerError(
                f"answer to question {question.id!r} must be a whole option index "
                f"from 0 to {last}, not {type(answer).__name__}",
                question.id,
            )
        if not 0 <= answer <= last:
            raise AnswerError(
                f"answer to question {question.id!r} is {answer}, out of range: "
                f"choose an option index from 0 to {last}",
                question.id,
            )
        checked.append(answer)
    return checked


def score_answers(answers: Sequence[object]) -> RiskAssessment:
    indexes = validate_answers(answers)
    score = sum(q.options[i].score for q, i in zip(QUESTIONS, indexes, strict=True))
    level = level_for(score)
    return RiskAssessment(score=score, level=level, profile=profile_for(level))


def _count_message(got: int) -> str:
    expected = len(QUESTIONS)
    if got < expected:
        missing = ", ".join(q.id for q in QUESTIONS[got:])
        return f"expected {expected} risk answers, got {got}: no answer to {missing}"
    return (
        f"expected {expected} risk answers, got {got}: "
        f"the last question is {QUESTIONS[-1].id!r}, nothing follows it"
    )
