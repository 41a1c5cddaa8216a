"""Cost per retained customer with its interval, and money shown in the currency's own units.

cost = discount money per treated case / uplift: the treated arm's money divided by the customers it kept
beyond what the control rate predicts (``stats.cost_per_retained`` computes the point exactly). Its interval
is the image of the uplift's 95 % interval under m / d: [m / upper, m / lower]. That is what the delta method
gives for a precise uplift (cost +- z * cost * se / d; tests/unit/retention/test_retention_cost.py compares
them) and stays honest near 0, where the delta method's symmetric interval would reach negative costs: an
uplift interval that reaches 0 gives a cost with no upper bound. The money per treated case is taken as
known (the counters keep its total, not its spread).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from billing.money import currency_exponent


@dataclass(frozen=True)
class CostInterval:
    low_minor: Decimal | None  # None: no bound on this side
    high_minor: Decimal | None


def cost_interval(money_minor: int, treated_cases: int, uplift_low: float, uplift_high: float) -> CostInterval | None:
    """Cost per extra customer for an uplift anywhere in [low, high]; None when the uplift is surely not
    positive (no customer kept by the money at any cost)."""
    if treated_cases <= 0 or uplift_high <= 0:
        return None
    per_case = Decimal(money_minor) / Decimal(treated_cases)
    low = per_case / Decimal(repr(uplift_high))
    high = per_case / Decimal(repr(uplift_low)) if uplift_low > 0 else None
    return CostInterval(low, high)


def format_money(amount_minor: int | Decimal, currency: str) -> str:
    """'31.08 EUR' for 3108 minor units of EUR, '3108 JPY' for 3108 JPY: rounded half up to the minor unit."""
    exponent = currency_exponent(currency)
    whole_minor = Decimal(amount_minor).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    major = whole_minor.scaleb(-exponent)
    return f"{major:.{exponent}f} {currency}"
