"""Tiering: the highest tier whose every minimum is met, and reviews with downgrade hysteresis."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.enums import Tier
from domain.financial import ClientMetrics
from domain.policy import TieringPolicy, TierThreshold
from domain.tiering import review_tier, tier_for, tier_rank

POLICY = TieringPolicy()


def at(threshold: TierThreshold | None, **less: int) -> ClientMetrics:
    """Exactly a tier's minimums, with `less` taken off the named metrics."""
    assert threshold is not None
    return ClientMetrics(
        aum=threshold.aum - less.get("aum", 0),
        annual_contribution=threshold.annual_contribution - less.get("annual_contribution", 0),
        transactions_12m=threshold.transactions_12m - less.get("transactions_12m", 0),
    )


# --- tier_for ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tier", [Tier.DIAMOND, Tier.PLATINUM, Tier.GOLD])
def test_meeting_every_minimum_exactly_earns_the_tier(tier: Tier) -> None:
    assert tier_for(at(POLICY.threshold(tier)), POLICY) is tier


@pytest.mark.parametrize("short", ["aum", "annual_contribution", "transactions_12m"])
def test_one_metric_short_of_diamond_drops_to_platinum(short: str) -> None:
    assert tier_for(at(POLICY.diamond, **{short: 1}), POLICY) is Tier.PLATINUM


def test_the_default_figures_of_the_policy() -> None:
    # 12 million AUM but only 3 transactions: activity holds the client at gold.
    busy_enough = ClientMetrics(
        aum=Decimal(12_000_000), annual_contribution=Decimal(150_000), transactions_12m=3
    )
    assert tier_for(busy_enough, POLICY) is Tier.GOLD
    assert tier_for(ClientMetrics(), POLICY) is Tier.REGULAR


def test_thresholds_come_from_the_policy() -> None:
    generous = POLICY.model_copy(
        update={
            "gold": TierThreshold(
                aum=Decimal(1), annual_contribution=Decimal(0), transactions_12m=0
            )
        }
    )
    assert tier_for(ClientMetrics(aum=Decimal(1)), generous) is Tier.GOLD
    assert tier_for(ClientMetrics(aum=Decimal(1)), POLICY) is Tier.REGULAR


def test_tier_rank_orders_tiers_lowest_to_highest() -> None:
    assert sorted(Tier, key=tier_rank) == [Tier.REGULAR, Tier.GOLD, Tier.PLATINUM, Tier.DIAMOND]


metrics = st.builds(
    ClientMetrics,
    aum=st.decimals(min_value=0, max_value=20_000_000, places=2),
    annual_contribution=st.decimals(min_value=0, max_value=200_000, places=2),
    transactions_12m=st.integers(0, 30),
)


@settings(max_examples=100)
@given(metrics, st.decimals(min_value=0, max_value=20_000_000, places=2))
def test_more_aum_never_gives_a_lower_tier(base: ClientMetrics, extra: Decimal) -> None:
    richer = base.model_copy(update={"aum": base.aum + extra})
    assert tier_rank(tier_for(richer, POLICY)) >= tier_rank(tier_for(base, POLICY))


@settings(max_examples=100)
@given(metrics, metrics)
def test_the_tier_is_monotone_in_every_metric_together(a: ClientMetrics, b: ClientMetrics) -> None:
    higher = ClientMetrics(
        aum=max(a.aum, b.aum),
        annual_contribution=max(a.annual_contribution, b.annual_contribution),
        transactions_12m=max(a.transactions_12m, b.transactions_12m),
    )
    assert tier_rank(tier_for(higher, POLICY)) >= max(
        tier_rank(tier_for(a, POLICY)), tier_rank(tier_for(b, POLICY))
    )


# --- review_tier ------------------------------------------------------------------------------


def test_an_upgrade_applies_at_once_and_resets_the_counter() -> None:
    review = review_tier(Tier.GOLD, 1, at(POLICY.diamond), POLICY)
    assert (review.old_tier, review.new_tier, review.direction) == (Tier.GOLD, Tier.DIAMOND, "up")
    assert review.changed and review.below_count == 0
    assert "upgraded" in review.reason


def test_a_first_review_below_keeps_the_tier_and_counts() -> None:
    review = review_tier(Tier.PLATINUM, 0, at(POLICY.platinum, aum=1), POLICY)
    assert (review.new_tier, review.earned_tier) == (Tier.PLATINUM, Tier.GOLD)
    assert not review.changed and review.direction == "none" and review.below_count == 1
    assert "1 of 2" in review.reason and "aum" in review.reason


def test_the_second_consecutive_review_below_downgrades_to_the_earned_tier() -> None:
    # Two tiers at once: a diamond client whose figures now earn only gold.
    review = review_tier(Tier.DIAMOND, 1, at(POLICY.gold), POLICY)
    assert (review.new_tier, review.direction, review.below_count) == (Tier.GOLD, "down", 0)
    assert review.changed and "downgraded after 2" in review.reason


def test_a_review_back_at_the_tier_resets_the_counter() -> None:
    review = review_tier(Tier.PLATINUM, 1, at(POLICY.platinum), POLICY)
    assert (review.new_tier, review.below_count, review.changed) == (Tier.PLATINUM, 0, False)


def test_the_number_of_reviews_comes_from_the_policy() -> None:
    at_once = POLICY.model_copy(update={"downgrade_after_reviews": 1})
    assert review_tier(Tier.GOLD, 0, ClientMetrics(), at_once).new_tier is Tier.REGULAR
    patient = POLICY.model_copy(update={"downgrade_after_reviews": 3})
    assert review_tier(Tier.GOLD, 1, ClientMetrics(), patient).below_count == 2
    assert review_tier(Tier.GOLD, 2, ClientMetrics(), patient).new_tier is Tier.REGULAR


def test_figures_hold_the_metrics_and_the_thresholds_compared() -> None:
    metrics = at(POLICY.platinum, transactions_12m=1)
    review = review_tier(Tier.PLATINUM, 0, metrics, POLICY)
    assert review.figures["aum"] == str(metrics.aum)
    assert review.figures["transactions_12m"] == str(metrics.transactions_12m)
    assert review.figures["platinum.transactions_12m"] == str(POLICY.platinum.transactions_12m)
    assert review.figures["gold.aum"] == str(POLICY.gold.aum)  # the tier the metrics earn
    assert review.figures["downgrade_after_reviews"] == str(POLICY.downgrade_after_reviews)
    assert all(isinstance(v, str) for v in review.figures.values())


def test_a_regular_client_below_nothing_stays_regular() -> None:
    review = review_tier(Tier.REGULAR, 0, ClientMetrics(), POLICY)
    assert (review.new_tier, review.below_count, review.direction) == (Tier.REGULAR, 0, "none")


def test_a_negative_counter_is_refused() -> None:
    with pytest.raises(ValueError, match="below_count"):
        review_tier(Tier.GOLD, -1, ClientMetrics(), POLICY)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 4),
    st.lists(st.booleans(), min_size=1, max_size=16),
)
def test_hysteresis_never_downgrades_before_n_consecutive_reviews_below(
    needed: int, above: list[bool]
) -> None:
    """Reviews just above or just below the platinum line, in any order: the client leaves
    platinum exactly at the first run of `needed` consecutive reviews below, and not before."""
    policy = POLICY.model_copy(update={"downgrade_after_reviews": needed})
    just_above, just_below = at(policy.platinum), at(policy.platinum, aum=1)
    tier, count, run = Tier.PLATINUM, 0, 0
    for is_above in above:
        run = 0 if is_above else run + 1
        review = review_tier(tier, count, just_above if is_above else just_below, policy)
        if tier is Tier.PLATINUM:
            expect_down = run >= needed
            assert (review.new_tier is Tier.GOLD) is expect_down
            assert review.below_count == (0 if is_above or expect_down else run)
        else:  # back at gold, a review above platinum upgrades at once
            assert review.new_tier is (Tier.PLATINUM if is_above else Tier.GOLD)
        tier, count = review.new_tier, review.below_count
