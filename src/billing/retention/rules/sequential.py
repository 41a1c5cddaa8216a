"""The live decision: valid however often the report is read, "not yet decidable" until it is.

O'Brien-Fleming-type alpha spending for continuous monitoring. With t = cases so far / planned cases
(the information fraction, capped at 1) and Z the evidence of a comparison, B(t) = Z * sqrt(t) behaves as a
Brownian motion under the null. A practice is decided when |B(t)| >= c with c = z(1 - alpha/4) (2.24 at
alpha = 0.05): by the reflection principle the chance that a null practice ever crosses, before the planned
sample is complete, is at most 4 * (1 - Phi(c)) = alpha, whatever the number and timing of the looks. Its
spending function is alpha(t) = 4 * (1 - Phi(c / sqrt(t))), the Lan-DeMets O'Brien-Fleming shape: almost
nothing is spent early (a look at 10 % of the plan needs |Z| > 7.1), and at the planned size the boundary is
2.24 instead of the fixed-sample 1.96 - the price of looking every day. Nothing about earlier looks needs to be
stored, which suits a report computed from counters on demand. After the planned size the boundary stays at c
(the final analysis): a practice still undecided then has no effect as large as the plan was powered for.

Holm's step-down correction is applied to these sequential p-values over the practices the plan compares.
``decision_z`` turns an adjusted p-value back into the critical z for the row's interval, so the interval
shown beside a star excludes 0 exactly when the row is starred.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.stats import norm
from statsmodels.stats.multitest import multipletests


def _capped(information: float) -> float:
    if information <= 0:
        return 0.0
    return min(1.0, information)


def boundary_z(alpha: float, information: float) -> float:
    """The |Z| a comparison must exceed at information fraction ``information`` (infinite with no information)."""
    t = _capped(information)
    if t == 0 or alpha <= 0:
        return math.inf
    return float(norm.isf(min(1.0, alpha) / 4)) / math.sqrt(t)


def sequential_p(evidence_z: float, information: float) -> float:
    """The smallest alpha at which the boundary is crossed now: 4 * (1 - Phi(|Z| sqrt(t))), at most 1."""
    t = _capped(information)
    return min(1.0, 4 * float(norm.sf(abs(evidence_z) * math.sqrt(t))))


def alpha_spent(alpha: float, information: float) -> float:
    """How much of ``alpha`` the plan allows to have been spent by ``information``."""
    t = _capped(information)
    return 0.0 if t == 0 else min(alpha, 4 * float(norm.sf(norm.isf(alpha / 4) / math.sqrt(t))))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (statsmodels' ``multipletests``), in the given order."""
    if not p_values:
        return []
    return [float(p) for p in multipletests(list(p_values), method="holm")[1]]


def decision_z(alpha: float, p_value: float, adjusted_p: float, information: float) -> float:
    """The critical z of the row's decision interval: the boundary at level alpha * p / p_adjusted, which the
    evidence crosses exactly when the adjusted p-value is below alpha (Holm's levels lie between alpha / m
    and alpha)."""
    level = alpha if adjusted_p <= 0 else alpha * min(1.0, p_value / adjusted_p)
    return boundary_z(level, information)


def power(effect: float, standard_error: float, z_critical: float) -> float:
    """Chance that a true uplift ``effect`` crosses +-z_critical, for an estimate with this standard error."""
    if standard_error <= 0 or math.isinf(z_critical):
        return 0.0
    shift = effect / standard_error
    return float(norm.sf(z_critical - shift) + norm.cdf(-z_critical - shift))


def minimum_detectable_effect(standard_error: float, z_critical: float, wanted_power: float = 0.8) -> float | None:
    """The smallest uplift detected with ``wanted_power`` (one tail; the other adds nothing at these sizes)."""
    if standard_error <= 0 or math.isinf(z_critical):
        return None
    return (z_critical + float(norm.isf(1 - wanted_power))) * standard_error


def null_standard_error(
    pooled_rate: float, n_treated: float, n_control: float, deff_treated: float = 1.0, deff_control: float = 1.0
) -> float:
    """Standard error of the difference when both arms share ``pooled_rate``, clustered by the design effects."""
    if n_treated <= 0 or n_control <= 0:
        return 0.0
    return math.sqrt(pooled_rate * (1 - pooled_rate) * (deff_treated / n_treated + deff_control / n_control))
