"""Tiering (客户分级, DOMAIN §3) and its dynamic adjustment with hysteresis.

A client earns the highest tier whose every minimum it meets. At a review an upgrade applies at
once; a downgrade only once the client has been below its tier at `downgrade_after_reviews`
consecutive reviews, so a client hovering at a boundary is not bounced between service levels
(and advisors) every quarter.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.enums import Tier
from domain.financial import ClientMetrics
from domain.kpi_period import ReportingPeriod
from domain.policy import TieringPolicy, TierThreshold

_CRITERIA = ("aum", "annual_contribution", "transactions_12m")


def tier_rank(tier: Tier) -> int:
    """regular 0 < gold 1 < platinum 2 < diamond 3."""
    return len(Tier) - 1 - list(Tier).index(tier)


def meets(metrics: ClientMetrics, threshold: TierThreshold) -> bool:
    return all(getattr(metrics, c) >= getattr(threshold, c) for c in _CRITERIA)


def tier_for(metrics: ClientMetrics, policy: TieringPolicy) -> Tier:
    for tier in Tier:  # highest first
        threshold = policy.threshold(tier)
        if threshold is None or meets(metrics, threshold):
            return tier
    return Tier.REGULAR


class TierReview(BaseModel):
    model_config = ConfigDict(frozen=True)
    old_tier: Tier
    new_tier: Tier
    earned_tier: Tier = Field(description="what the metrics alone would give today")
    changed: bool
    below_count: int = Field(ge=0, description="consecutive reviews below new_tier, carried on")
    direction: Literal["up", "down", "none"]
    reason: str
    figures: dict[str, str]


def review_tier(
    current: Tier, below_count: int, metrics: ClientMetrics, policy: TieringPolicy
) -> TierReview:
    """One periodic review. `below_count` is the counter the previous review handed on."""
    if below_count < 0:
        raise ValueError(f"below_count must not be negative, got {below_count}")
    earned = tier_for(metrics, policy)
    figures = _figures(metrics, current, earned, policy)
    needed = policy.downgrade_after_reviews

    def review(new: Tier, count: int, reason: str) -> TierReview:
        up, down = tier_rank(new) > tier_rank(current), tier_rank(new) < tier_rank(current)
        return TierReview(
            old_tier=current,
            new_tier=new,
            earned_tier=earned,
            changed=new is not current,
            below_count=count,
            direction="up" if up else "down" if down else "none",
            reason=reason,
            figures=figures,
        )

    if tier_rank(earned) > tier_rank(current):
        return review(earned, 0, f"upgraded: meets every {earned.value} minimum")
    if earned is current:
        return review(current, 0, f"meets every {current.value} minimum; kept")
    shortfall = _shortfall(metrics, policy.threshold(current))
    count = below_count + 1
    if count >= needed:
        return review(
            earned,
            0,
            f"downgraded after {count} consecutive reviews below {current.value} "
            f"({shortfall}); earns {earned.value}",
        )
    return review(
        current,
        count,
        f"below {current.value} ({shortfall}) at {count} of {needed} consecutive reviews "
        "needed to downgrade; kept",
    )


def _shortfall(metrics: ClientMetrics, threshold: TierThreshold | None) -> str:
    if threshold is None:  # regular has no minimum, so nothing can fall short of it
        return "no minimum"
    short = [
        f"{c} {getattr(metrics, c)} < {getattr(threshold, c)}"
        for c in _CRITERIA
        if getattr(metrics, c) < getattr(threshold, c)
    ]
    return "; ".join(short)


def _figures(
    metrics: ClientMetrics, current: Tier, earned: Tier, policy: TieringPolicy
) -> dict[str, str]:
    """The metrics and every threshold the decision compared them with, as strings."""
    figures = {c: str(getattr(metrics, c)) for c in _CRITERIA}
    compared = {current, earned}
    # The tier just above the earned one is the minimum the client missed.
    above = [t for t in Tier if tier_rank(t) == tier_rank(earned) + 1]
    compared.update(above)
    for tier in Tier:
        threshold = policy.threshold(tier)
        if tier in compared and threshold is not None:
            for c in _CRITERIA:
                figures[f"{tier.value}.{c}"] = str(getattr(threshold, c))
    figures["downgrade_after_reviews"] = str(policy.downgrade_after_reviews)
    return figures


def review_id_for(due: datetime, zone: tzinfo) -> str:
    """The quarterly review a run due at `due` belongs to: every run due in one local quarter
    (the schedule's, a manual trigger, a rerun) is the same review, so none counts as another
    consecutive review below tier."""
    return f"tier-review-{ReportingPeriod.quarter_of(due, zone).label}"
