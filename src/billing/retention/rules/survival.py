"""Kaplan-Meier survival curves and the log-rank test from churn counts.

Input is what a stream can keep as counters: per tenure bucket (e.g. the
bucket's end day) how many customers churned there and how many were
censored there (still customers when last seen, or too recent to know).
``events`` is a sequence of ``(time, churned, censored)``; repeated times are
added together and order does not matter.

Conventions (the usual ones, also lifelines'):
* at-risk at ``t`` = everyone not yet churned or censored before ``t``;
  customers censored at ``t`` are still at risk at ``t`` (censoring is taken
  to happen just after the churns of the same bucket);
* S(t) = product over churn times t_i <= t of (1 - d_i / n_i);
* Greenwood: Var S(t) = S(t)^2 * sum d_i / (n_i (n_i - d_i));
* default CI is "log-log" (Kalbfleisch-Prentice): with
  sigma^2 = sum d_i / (n_i (n_i - d_i)) / (ln S)^2 the interval is
  [S^exp(z sigma), S^exp(-z sigma)]. It stays within (0, 1), unlike the
  "plain" S +- z sqrt(Var), which is offered too (clamped to [0, 1]).
Every input time appears in the curve, censor-only times with an unchanged
survival. Once S reaches 0 (everyone at risk churned) the CI is (0, 0).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from billing.retention.rules.stats import Z_95

Events = Sequence[tuple[int, int, int]]


class KmStep(NamedTuple):
    time: int
    at_risk: int
    churned: int
    censored: int
    survival: float
    greenwood_sum: float  # sum d / (n (n - d)) so far; Var S = S^2 * this


class KmPoint(NamedTuple):
    time: int
    survival: float
    ci_low: float
    ci_high: float


def _counts_by_time(events: Events) -> Mapping[int, tuple[int, int]]:
    totals: defaultdict[int, list[int]] = defaultdict(lambda: [0, 0])
    for time, churned, censored in events:
        if time < 0 or churned < 0 or censored < 0:
            raise ValueError(f"times and counts must not be negative: {(time, churned, censored)}")
        totals[time][0] += churned
        totals[time][1] += censored
    return {time: (churned, censored) for time, (churned, censored) in sorted(totals.items())}


def km_steps(events: Events) -> list[KmStep]:
    """The Kaplan-Meier life table: at-risk counts, survival and Greenwood sum."""
    counts = _counts_by_time(events)
    at_risk = sum(churned + censored for churned, censored in counts.values())
    survival, greenwood_sum, steps = 1.0, 0.0, []
    for time, (churned, censored) in counts.items():
        if churned:
            survival *= 1 - churned / at_risk
            # n == d drives S to 0, where the variance term is undefined but
            # no longer needed: the curve and its interval stay at 0.
            if at_risk > churned:
                greenwood_sum += churned / (at_risk * (at_risk - churned))
        steps.append(KmStep(time, at_risk, churned, censored, survival, greenwood_sum))
        at_risk -= churned + censored
    return steps


def _log_log_ci(survival: float, greenwood_sum: float, z: float) -> tuple[float, float]:
    if survival <= 0.0:
        return 0.0, 0.0
    if survival >= 1.0 or greenwood_sum == 0.0:
        return survival, survival
    sigma = math.sqrt(greenwood_sum) / abs(math.log(survival))
    return survival ** math.exp(z * sigma), survival ** math.exp(-z * sigma)


def _plain_ci(survival: float, greenwood_sum: float, z: float) -> tuple[float, float]:
    half_width = z * survival * math.sqrt(greenwood_sum)
    return max(0.0, survival - half_width), min(1.0, survival + half_width)


CI_METHODS: Mapping[str, Callable[[float, float, float], tuple[float, float]]] = {
    "log-log": _log_log_ci,
    "plain": _plain_ci,
}


def km_curve(events: Events, z: float = Z_95, ci: str = "log-log") -> list[KmPoint]:
    """Kaplan-Meier curve as ``(time, survival, ci_low, ci_high)`` points."""
    interval = CI_METHODS[ci]
    return [
        KmPoint(step.time, step.survival, *interval(step.survival, step.greenwood_sum, z)) for step in km_steps(events)
    ]


class LogRank(NamedTuple):
    chi2: float
    p_value: float


def log_rank_test(group_a: Events, group_b: Events) -> LogRank:
    """Log-rank (Mantel-Cox) test that two groups share one survival curve.

    At every churn time t: E_a += d n_a / n and
    V += n_a n_b d (n - d) / (n^2 (n - 1)); chi2 = (O_a - E_a)^2 / V with one
    degree of freedom, so p = P(chi2_1 >= x) = erfc(sqrt(x / 2)). With no
    information (V = 0: no churn, or one customer left) chi2 = 0 and p = 1.
    """
    counts_a, counts_b = _counts_by_time(group_a), _counts_by_time(group_b)
    at_risk_a = sum(churned + censored for churned, censored in counts_a.values())
    at_risk_b = sum(churned + censored for churned, censored in counts_b.values())
    observed_minus_expected, variance = 0.0, 0.0
    for time in sorted(set(counts_a) | set(counts_b)):
        churned_a, censored_a = counts_a.get(time, (0, 0))
        churned_b, censored_b = counts_b.get(time, (0, 0))
        at_risk, churned = at_risk_a + at_risk_b, churned_a + churned_b
        if churned:
            observed_minus_expected += churned_a - churned * at_risk_a / at_risk
        if churned and at_risk > 1:
            spread = at_risk_a * at_risk_b * churned * (at_risk - churned)
            variance += spread / (at_risk * at_risk * (at_risk - 1))
        at_risk_a -= churned_a + censored_a
        at_risk_b -= churned_b + censored_b
    chi2 = observed_minus_expected**2 / variance if variance > 0 else 0.0
    return LogRank(chi2, math.erfc(math.sqrt(chi2 / 2)))
