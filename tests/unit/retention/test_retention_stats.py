"""Wilson interval, two-proportion z-test and cost per retained, checked by hand."""

from decimal import Decimal

import pytest

from billing.retention.rules.stats import (
    Z_95,
    cost_per_retained,
    normal_two_sided_p,
    two_proportion_z_test,
    wilson_interval,
)


def test_wilson_for_8_of_10_matches_the_hand_calculation():
    # p = 0.8, z^2 = 3.841459, z^2/2n = 0.192073, centre = 0.992073
    # p(1-p)/n = 0.016, z^2/4n^2 = 0.009604, sqrt(0.025604) = 0.160011
    # margin = 1.959964 * 0.160011 = 0.313616, scale = 1.384146
    # low = 0.678457 / 1.384146 = 0.4902, high = 1.305689 / 1.384146 = 0.9433
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.490162, abs=1e-6)
    assert high == pytest.approx(0.943318, abs=1e-6)


def test_wilson_edges_are_exact_and_no_data_means_no_knowledge():
    # s = 0: low is exactly 0; high = (z^2/2n + z^2/2n) / (1 + z^2/n) = z^2 / (n + z^2)
    assert wilson_interval(0, 10) == (0.0, pytest.approx(Z_95**2 / (10 + Z_95**2)))
    assert wilson_interval(10, 10) == (pytest.approx(10 / (10 + Z_95**2)), 1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    # z = 0 collapses the interval onto p
    assert wilson_interval(3, 4, z=0.0) == (0.75, 0.75)


@pytest.mark.parametrize(("successes", "n"), [(-1, 5), (6, 5), (0, -1)])
def test_wilson_refuses_impossible_counts(successes, n):
    with pytest.raises(ValueError, match="0 <= successes <= n"):
        wilson_interval(successes, n)


def test_z_test_matches_the_hand_calculation():
    # 45/100 vs 30/100: pooled p = 75/200 = 0.375,
    # SE = sqrt(0.375 * 0.625 * (1/100 + 1/100)) = sqrt(0.0046875) = 0.0684653
    # z = 0.15 / 0.0684653 = 2.190890, p = 2 (1 - Phi(2.190890)) = 0.028460
    # unpooled SE = sqrt(0.45*0.55/100 + 0.30*0.70/100) = sqrt(0.004575) = 0.0676387
    # CI = 0.15 +- 1.959964 * 0.0676387 = 0.15 +- 0.132570 = (0.017430, 0.282570)
    result = two_proportion_z_test(45, 100, 30, 100)
    assert result.z == pytest.approx(2.190890, abs=1e-6)
    assert result.p_value_two_sided == pytest.approx(0.028460, abs=1e-6)
    assert result.difference == pytest.approx(0.15)
    assert (result.ci_low, result.ci_high) == (
        pytest.approx(0.017430, abs=1e-6),
        pytest.approx(0.282570, abs=1e-6),
    )


def test_z_test_with_zero_variance_reports_no_evidence():
    all_kept = two_proportion_z_test(20, 20, 5, 5)
    assert (all_kept.z, all_kept.p_value_two_sided, all_kept.difference) == (0.0, 1.0, 0.0)
    assert (all_kept.ci_low, all_kept.ci_high) == (0.0, 0.0)
    with pytest.raises(ValueError, match="both groups"):
        two_proportion_z_test(0, 0, 1, 2)


def test_normal_tail_agrees_with_known_quantiles():
    assert normal_two_sided_p(Z_95) == pytest.approx(0.05, rel=1e-12)
    assert normal_two_sided_p(-2.575829303549) == pytest.approx(0.01, rel=1e-9)
    assert normal_two_sided_p(10.0) == pytest.approx(1.523970e-23, rel=1e-5)  # no cancellation
    assert normal_two_sided_p(0.0) == 1.0


def test_cost_per_retained_divides_money_by_extra_customers_kept():
    # treated 450/1000, control 30/100 = 30 %: 300 would have stayed anyway,
    # 150 extra; 1000.00 EUR / 150 = 666.666... cents per extra customer
    cost = cost_per_retained(100_000, 1000, 450, 100, 30)
    assert isinstance(cost, Decimal)
    assert cost.quantize(Decimal("0.0001")) == Decimal("666.6667")
    assert cost * 150 == pytest.approx(Decimal(100_000))
    # Exact when it divides: 90/100 vs 50/100 -> 40 extra; 2000 / 40 = 50
    assert cost_per_retained(2000, 100, 90, 100, 50) == Decimal(50)


@pytest.mark.parametrize("control_retained", [50, 60])
def test_cost_per_retained_is_none_without_extra_customers(control_retained):
    assert cost_per_retained(2000, 100, 50, 100, control_retained) is None


def test_cost_per_retained_needs_both_arms():
    with pytest.raises(ValueError, match="both a treated and a control arm"):
        cost_per_retained(2000, 100, 50, 0, 0)
    # 2/3 treated vs 1/3 control: 2 - 1 = 1 extra customer, so all the money
    assert cost_per_retained(7, 3, 2, 3, 1) == Decimal(7)
