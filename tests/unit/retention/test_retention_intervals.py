"""The hand-written statistics against statsmodels and scipy on fixed tables, zero cells and arms of 1 to 10."""

import itertools
import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.stats import fisher_exact, norm
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep

from billing.retention.rules.cost import cost_interval, format_money
from billing.retention.rules.intervals import ClusterMoments, clustered_variance, compare, newcombe
from billing.retention.rules.sequential import boundary_z, holm, power, sequential_p

SMALL = [(s, n) for n in range(1, 11) for s in range(n + 1)]
TABLES = [(a, b) for a, b in itertools.product(SMALL, SMALL) if (a[1] + b[1]) % 5 == 0] + [
    ((0, 5), (5, 5)),
    ((5, 5), (5, 5)),
    ((0, 30), (0, 3)),
    ((450, 1000), (30, 100)),
]


@pytest.mark.parametrize(("treated", "control"), TABLES)
def test_newcombe_equals_statsmodels(treated, control) -> None:
    (s1, n1), (s2, n2) = treated, control
    expected = confint_proportions_2indep(s1, n1, s2, n2, method="newcomb", compare="diff")
    assert newcombe(s1 / n1, n1, s2 / n2, n2) == pytest.approx(tuple(map(float, expected)), abs=1e-9)


@pytest.mark.parametrize(("treated", "control"), TABLES)
def test_the_test_matches_the_interval_and_fisher_guards_small_cells(treated, control) -> None:
    (s1, n1), (s2, n2) = treated, control
    result = compare(ClusterMoments.independent(n1, s1), ClusterMoments.independent(n2, s2))
    low, high = result.interval()
    if result.fisher_p is None:
        assert (result.p_value < 0.05) == (low > 0 or high < 0)  # one statement, not two
    else:
        assert result.fisher_p == pytest.approx(fisher_exact([[s1, n1 - s1], [s2, n2 - s2]]).pvalue)
        assert result.p_value >= result.fisher_p - 1e-12
    agreeing_low, agreeing_high = result.interval_agreeing(1.959963984540054)
    assert (agreeing_low > 0 or agreeing_high < 0) == (result.p_value < 0.05 - 1e-12) or math.isclose(
        result.p_value, 0.05
    )
    assert low < high  # never a zero-width interval, even with 5 of 5 against 5 of 5


def test_clustered_variance_is_statsmodels_cluster_robust_mean() -> None:
    rng = np.random.default_rng(7)
    groups = np.repeat(np.arange(40), rng.integers(1, 4, 40))
    y = (rng.random(len(groups)) < 0.6).astype(float)
    fit = sm.OLS(y, np.ones_like(y)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    per = [(int((groups == g).sum()), int(y[groups == g].sum())) for g in range(40)]
    moments = ClusterMoments(
        40, len(y), int(y.sum()), sum(n * n for n, _ in per), sum(n * s for n, s in per), sum(s * s for _, s in per)
    )
    assert clustered_variance(moments) == pytest.approx(float(fit.bse[0]) ** 2, rel=1e-9)


def test_holm_power_and_boundary_against_statsmodels_and_scipy() -> None:
    ps = [0.01, 0.04, 0.03, 0.2, 1.0]
    assert holm(ps) == pytest.approx(list(multipletests(ps, method="holm")[1]))
    se, effect = math.sqrt(0.21 * (1 / 900 + 1 / 100)), 0.1
    expected = NormalIndPower().power(effect / math.sqrt(0.21), nobs1=900, alpha=0.05, ratio=100 / 900)
    assert power(effect, se, float(norm.isf(0.025))) == pytest.approx(expected, rel=1e-9)
    assert boundary_z(0.05, 1.0) == pytest.approx(2.2414027, abs=1e-6)  # continuous-monitoring OBF boundary
    assert sequential_p(boundary_z(0.05, 0.3), 0.3) == pytest.approx(0.05)


def test_cost_interval_agrees_with_the_delta_method_for_a_precise_uplift_and_money_is_in_major_units() -> None:
    # 100,000 minor over 10,000 treated cases = 10 per case; uplift 0.2 with se 0.005
    low, high = 0.2 - 1.96 * 0.005, 0.2 + 1.96 * 0.005
    interval = cost_interval(100_000, 10_000, low, high)
    delta_half = 1.96 * 50 * 0.005 / 0.2  # cost 50, se(cost) = cost * se / d
    assert float(interval.low_minor) == pytest.approx(
        50 - delta_half, rel=5e-3
    )  # equal to first order; the image is asymmetric
    assert float(interval.high_minor) == pytest.approx(
        50 + delta_half, rel=5e-3
    )  # equal to first order; the image is asymmetric
    assert cost_interval(100, 10, -0.1, 0.2).high_minor is None  # uplift may be 0: no upper bound
    assert format_money(3108, "EUR") == "31.08 EUR" and format_money(3108, "JPY") == "3108 JPY"
