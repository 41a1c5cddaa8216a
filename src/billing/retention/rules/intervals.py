"""The difference of two retention rates: an interval and a test that agree and hold at small arm sizes.

* Newcombe's hybrid score interval (his method 10): each arm's Wilson interval, combined. Unlike the Wald
  interval it never collapses to zero width (5 control cases that all stayed no longer give +0.0 [+0.0, +0.0])
  and keeps close to its nominal coverage at small arms.
* The matching test is the interval inverted: the ``evidence_z`` of a comparison is the z at which the
  interval's bound touches 0, so "the 95 % interval excludes 0" and "p < 0.05" are one statement.
* Fisher's exact test for small cells (an expected count below 5 in the 2x2 table): its p-value, as a normal
  quantile, lowers the evidence when it is the more cautious of the two.
* Cases of one account are not independent (repeat callers; the arm is assigned per account): the variance
  of each arm's rate is the cluster-robust one (CR1, as statsmodels' ``cov_type="cluster"``), and the arm enters
  the interval with its effective size, cases / design effect.

Hand-written where statsmodels does the same thing (Newcombe) because it is called a few hundred times per
report and per simulated world: about 100 times faster than ``confint_proportions_2indep``
(tests/unit/retention/test_retention_intervals.py checks that the two agree to 1e-9).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.optimize import brentq
from scipy.stats import fisher_exact, norm

from billing.retention.rules.stats import Z_95

SMALL_EXPECTED_CELL = 5.0  # Cochran's rule: below it the normal approximation is not trusted alone
_Z_SEARCH_MAX = 40.0  # beyond it the p-value is below 1e-300


@dataclass(frozen=True)
class ClusterMoments:
    """One arm's cases grouped by account: n_i cases and y_i retained per account i, summed."""

    clusters: int
    cases: int
    retained: int
    sum_n2: int  # sum of n_i^2
    sum_ny: int  # sum of n_i * y_i
    sum_y2: int  # sum of y_i^2

    @classmethod
    def independent(cls, cases: int, retained: int) -> ClusterMoments:
        """Every case its own account: what counters without account ids can tell."""
        return cls(cases, cases, retained, cases, retained, retained)

    def astuple(self) -> tuple[int, int, int, int, int, int]:
        return (self.clusters, self.cases, self.retained, self.sum_n2, self.sum_ny, self.sum_y2)


def clustered_variance(arm: ClusterMoments) -> float:
    """CR1 variance of the rate sum(y)/sum(n): G/(G-1) * sum (y_i - p n_i)^2 / N^2 (0 with fewer than 2 accounts)."""
    if arm.cases == 0 or arm.clusters < 2:
        return 0.0
    p = arm.retained / arm.cases
    squares = arm.sum_y2 - 2 * p * arm.sum_ny + p * p * arm.sum_n2
    return arm.clusters / (arm.clusters - 1) * max(0.0, squares) / arm.cases**2


def design_effect(arm: ClusterMoments) -> float:
    """Clustered variance over the variance of independent cases, p(1-p)/(N-1); exactly 1 for one case per
    account, and never below 1 (a negative intra-account correlation is not credited)."""
    if arm.cases < 2 or arm.retained in (0, arm.cases) or arm.clusters == arm.cases:
        return 1.0
    p = arm.retained / arm.cases
    return max(1.0, clustered_variance(arm) / (p * (1 - p) / (arm.cases - 1)))


def wilson(p: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score interval for a rate p observed on n (possibly effective, non-integer) cases."""
    if n <= 0:
        return 0.0, 1.0
    z2 = z * z
    centre = p + z2 / (2 * n)
    margin = z * math.sqrt(max(0.0, p * (1 - p) / n + z2 / (4 * n * n)))
    scale = 1 + z2 / n
    low = 0.0 if p <= 0 else max(0.0, (centre - margin) / scale)
    high = 1.0 if p >= 1 else min(1.0, (centre + margin) / scale)
    return low, high


def newcombe(p1: float, n1: float, p2: float, n2: float, z: float = Z_95) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 - p2."""
    l1, u1 = wilson(p1, n1, z)
    l2, u2 = wilson(p2, n2, z)
    difference = p1 - p2
    return (
        difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


@dataclass(frozen=True)
class Comparison:
    """Treatment (arm 1) against control (arm 2), on effective sizes after the design effect."""

    rate_1: float
    rate_2: float
    n_eff_1: float
    n_eff_2: float
    design_effect_1: float
    design_effect_2: float
    newcombe_z: float  # the z at which the Newcombe interval touches 0 (0 when the rates are equal)
    fisher_p: float | None  # Fisher's exact test, when a cell is small
    evidence_z: float  # min(newcombe_z, Fisher's p as a normal quantile): what every decision uses

    @property
    def difference(self) -> float:
        return self.rate_1 - self.rate_2

    @property
    def p_value(self) -> float:
        """Two-sided fixed-sample p-value, matching the interval (and Fisher's when cells are small)."""
        return float(min(1.0, 2 * norm.sf(self.evidence_z)))

    def interval(self, z: float = Z_95) -> tuple[float, float]:
        return newcombe(self.rate_1, self.n_eff_1, self.rate_2, self.n_eff_2, z)

    def interval_agreeing(self, z_critical: float) -> tuple[float, float]:
        """The interval that excludes 0 exactly when ``evidence_z > z_critical``: with Fisher's test the more
        cautious, the Newcombe interval is widened by the ratio of the two z's, so the star and the interval agree."""
        scale = self.newcombe_z / self.evidence_z if self.evidence_z > 0 else 1.0
        return self.interval(z_critical * scale)


def _touching_zero(p1: float, n1: float, p2: float, n2: float) -> float:
    if p1 == p2:
        return 0.0

    def bound(z: float) -> float:
        low, high = newcombe(p1, n1, p2, n2, z)
        return low if p1 > p2 else -high

    if bound(_Z_SEARCH_MAX) > 0:
        return _Z_SEARCH_MAX
    return float(brentq(bound, 0.0, _Z_SEARCH_MAX, xtol=1e-12))


def _small_cells(s1: float, n1: float, s2: float, n2: float) -> bool:
    total, kept = n1 + n2, s1 + s2
    if total <= 0:
        return False
    expected = [n * share / total for n in (n1, n2) for share in (kept, total - kept)]
    return min(expected) < SMALL_EXPECTED_CELL


def compare(treated: ClusterMoments, control: ClusterMoments) -> Comparison:
    """Newcombe and (for small cells) Fisher on the effective sizes; both arms need cases."""
    if treated.cases == 0 or control.cases == 0:
        raise ValueError("both arms need cases")
    deff_1, deff_2 = design_effect(treated), design_effect(control)
    n1, n2 = treated.cases / deff_1, control.cases / deff_2
    p1, p2 = treated.retained / treated.cases, control.retained / control.cases
    z_newcombe = _touching_zero(p1, n1, p2, n2)
    fisher_p, evidence = None, z_newcombe
    if _small_cells(p1 * n1, n1, p2 * n2, n2):
        # Fisher needs whole cases: the effective counts, rounded (the same counts when accounts called once).
        s1, f1, s2, f2 = (round(x) for x in (p1 * n1, (1 - p1) * n1, p2 * n2, (1 - p2) * n2))
        fisher_p = float(fisher_exact([[s1, f1], [s2, f2]]).pvalue)
        evidence = min(z_newcombe, float(norm.isf(min(1.0, fisher_p) / 2)))
    return Comparison(p1, p2, n1, n2, deff_1, deff_2, z_newcombe, fisher_p, max(0.0, evidence))
