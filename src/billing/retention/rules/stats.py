"""Proportion statistics that need only counters: Wilson interval, z-test, cost.

Floats are fine here: rates and test statistics are not money. The one
money result, ``cost_per_retained``, is an exact ``Decimal`` of minor units.
The normal distribution is computed with ``math.erfc`` (stdlib), which keeps
full relative precision in the tails where ``1 - erf`` would cancel to 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

Z_95 = 1.959963984540054  # two-sided 95 %: the 97.5 % normal quantile

# Enough digits that the quotient of two 64-bit-sized integers is exact to
# well below a millionth of a minor unit.
_COST_DIGITS = 40


def normal_two_sided_p(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def _check_counts(successes: int, n: int) -> None:
    if not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion.

    (p + z^2/2n +- z * sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), with p = s/n.
    Unlike the plain Wald interval it stays inside [0, 1] and does not
    collapse to a point at 0 % or 100 %, which small arms often show. The
    bounds are exactly 0 at s = 0 and exactly 1 at s = n (algebraically so;
    set explicitly because floating point lands a hair inside), and clamped
    to [0, 1] otherwise. With no observations nothing is known: (0, 1).
    """
    _check_counts(successes, n)
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    scale = 1 + z2 / n
    low = 0.0 if successes == 0 else max(0.0, (centre - margin) / scale)
    high = 1.0 if successes == n else min(1.0, (centre + margin) / scale)
    return low, high


@dataclass(frozen=True)
class ZTest:
    z: float
    p_value_two_sided: float
    difference: float  # rate 1 - rate 2
    ci_low: float
    ci_high: float


def two_proportion_z_test(s1: int, n1: int, s2: int, n2: int, z_crit: float = Z_95) -> ZTest:
    """Is rate 1 (s1/n1) different from rate 2 (s2/n2)?

    The test uses the pooled standard error, because under the null
    hypothesis both arms share one rate; the confidence interval of the
    difference uses the unpooled one, because it describes rates that may
    differ. When the pooled variance is zero (both arms all-retained or
    all-churned) the rates are identical, so z = 0 and p = 1; a zero unpooled
    variance gives a zero-width interval at the observed difference.
    """
    _check_counts(s1, n1)
    _check_counts(s2, n2)
    if n1 == 0 or n2 == 0:
        raise ValueError(f"both groups need observations, got n1={n1}, n2={n2}")
    p1, p2 = s1 / n1, s2 / n2
    difference = p1 - p2
    pooled = (s1 + s2) / (n1 + n2)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = difference / pooled_se if pooled_se > 0 else 0.0
    unpooled_se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    half_width = z_crit * unpooled_se
    return ZTest(
        z=z,
        p_value_two_sided=normal_two_sided_p(z),
        difference=difference,
        ci_low=difference - half_width,
        ci_high=difference + half_width,
    )


def cost_per_retained(
    discount_money_minor: int,
    treated_n: int,
    treated_retained: int,
    control_n: int,
    control_retained: int,
) -> Decimal | None:
    """Discount money spent per customer retained *because of* the discount.

    Extra customers retained = (treated_rate - control_rate) * treated_n: the
    treated arm's retained count minus what it would have kept anyway at the
    control rate. ``None`` when that is not positive (the discount retained
    nobody extra, so the cost per extra customer is unbounded). The quotient
    is computed exactly from integers, ``money * control_n /
    (treated_retained * control_n - control_retained * treated_n)``, and
    returned in minor units with 40 significant digits (not rounded to whole
    minor units, since it is a ratio rather than an amount to book).
    """
    _check_counts(treated_retained, treated_n)
    _check_counts(control_retained, control_n)
    if treated_n == 0 or control_n == 0:
        raise ValueError("cost per retained needs both a treated and a control arm")
    extra = Fraction(treated_retained) - Fraction(control_retained * treated_n, control_n)
    if extra <= 0:
        return None
    with localcontext() as context:
        context.prec = _COST_DIGITS
        return Decimal(discount_money_minor * extra.denominator) / Decimal(extra.numerator)
