"""Appraisal (考核, DOMAIN §7): a quantitative score from the KPIs, a qualitative one from
conduct and client feedback, and the bonus band the total falls in.

Every KPI is first put on a 0–100 scale where 100 is the best outcome, so weights in the policy
mean what they say. The mapping per KPI is fixed here because it follows from the KPI's own
definition; only the AUM target is a business choice, and lives in the policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.policy import AppraisalPolicy
from domain.text import FreeText

Band = Literal["reward", "standard", "deduction"]


def _clamp(value: float) -> float:
    return min(100.0, max(0.0, value))


def _share(value: float) -> float:
    return _clamp(100 * value)


def _to_scale(policy: AppraisalPolicy) -> dict[str, Callable[[float], float]]:
    """KPI value -> 0–100. Keys are the KPI names the weights use and the snapshot metrics carry."""
    share = _share
    return {
        "csat": share,
        "nps": lambda v: _clamp((v + 100) / 2),  # −100..100
        "callback_completion": share,
        "deadline_compliance": share,
        "complaint_satisfaction": share,
        "retention": share,
        # Shrinking AUM scores 0; reaching the period's growth target scores full marks.
        "aum_growth": lambda v: _clamp(100 * v / policy.aum_growth_target),
        "repeat_complaints": lambda v: _clamp(100 * (1 - v)),  # lower is better
    }


class QualitativeInput(BaseModel):
    """The supervisor's judgement, recorded as an input to the appraisal (ratings 1–5).

    Notes stay in the (encrypted) workflow input that records them and are never copied into
    the snapshot tables: client feedback often quotes the client.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    conduct: int | None = Field(default=None, ge=1, le=5)
    client_feedback: int | None = Field(default=None, ge=1, le=5)
    notes: Annotated[str, FreeText(max_length=4000, multiline=True)] = ""

    def score(self) -> float | None:
        ratings = [r for r in (self.conduct, self.client_feedback) if r is not None]
        return 100 * (sum(ratings) / len(ratings) - 1) / 4 if ratings else None


class Appraisal(BaseModel):
    model_config = ConfigDict(frozen=True)
    kpi_scores: dict[str, float]
    coverage: float = Field(description="share of the policy's KPI weight that had evidence")
    quantitative: float | None
    qualitative: float | None
    total: float | None
    band: Band | None


def kpi_scores(metrics: Mapping[str, object], policy: AppraisalPolicy) -> dict[str, float]:
    """0–100 per KPI present in `metrics` as a number; absent or None KPIs are skipped."""
    out: dict[str, float] = {}
    for name, scale in _to_scale(policy).items():
        value = metrics.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = round(scale(float(value)), 2)
    return out


def quantitative_score(
    scores: Mapping[str, float], policy: AppraisalPolicy
) -> tuple[float | None, float]:
    """(weighted mean of the scored KPIs, share of the total weight they carry)."""
    weights = policy.weights.model_dump()
    total_weight = sum(weights.values())
    used = {k: weights[k] for k in scores if weights.get(k, 0) > 0}
    weight = sum(used.values())
    if weight == 0:
        return None, 0.0
    mean = sum(scores[k] * w for k, w in used.items()) / weight
    return round(mean, 2), round(weight / total_weight, 4)


def band(total: float | None, policy: AppraisalPolicy) -> Band | None:
    if total is None:
        return None
    if total >= policy.reward_at:
        return "reward"
    return "deduction" if total < policy.deduct_below else "standard"


def appraise(
    metrics: Mapping[str, object],
    policy: AppraisalPolicy,
    qualitative: QualitativeInput | None = None,
) -> Appraisal:
    """Quantitative and qualitative parts blended by `qualitative_weight`; either part alone
    stands for the total when the other has no evidence."""
    scores = kpi_scores(metrics, policy)
    quant, coverage = quantitative_score(scores, policy)
    qual = qualitative.score() if qualitative is not None else None
    if quant is not None and qual is not None:
        total: float | None = (
            1 - policy.qualitative_weight
        ) * quant + policy.qualitative_weight * qual
    else:
        total = quant if quant is not None else qual
    total = None if total is None else round(total, 2)
    return Appraisal(
        kpi_scores=scores,
        coverage=coverage,
        quantitative=quant,
        qualitative=None if qual is None else round(qual, 2),
        total=total,
        band=band(total, policy),
    )
