"""Cost per retained customer with its interval, per currency of a report row, and money in the currency's own units.

cost = discount money per treated case / uplift: the treated arm's money divided by the customers it kept
beyond what the control rate predicts (``stats.cost_per_retained`` computes the point exactly). Its interval
is the image of the uplift's 95 % interval under m / d: [m / upper, m / lower]. That is what the delta method
gives for a precise uplift (cost +- z * cost * se / d; tests/unit/retention/test_retention_cost.py compares
them) and stays honest near 0, where the delta method's symmetric interval would reach negative costs: an
uplift interval that reaches 0 gives a cost with no upper bound. The money per treated case is taken as
known (the counters keep its total, not its spread).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from billing.money import currency_exponent
from billing.retention.rules.arms import Arm
from billing.retention.rules.counters import PracticeReport
from billing.retention.rules.stats import cost_per_retained


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


def treatment_money(row: PracticeReport, money: Mapping[tuple[str, str, int, str], int]) -> dict[str, int]:
    return {
        currency: amount
        for (practice, arm, horizon, currency), amount in sorted(money.items())
        if (practice, arm, horizon) == (row.practice, Arm.TREATMENT.value, row.horizon_days)
    }


def costs(row: PracticeReport, money: Mapping[tuple[str, str, int, str], int]) -> dict[str, str | None]:
    """Per currency: discount money / customers retained beyond what the control rate predicts."""
    if not (row.treatment.cases and row.control.cases):
        return {}
    found: dict[str, str | None] = {}
    for currency, amount in treatment_money(row, money).items():
        cost = cost_per_retained(
            amount, row.treatment.cases, row.treatment.retained, row.control.cases, row.control.retained
        )
        found[currency] = None if cost is None else str(cost.quantize(1))
    return found


def cost_intervals(
    row: PracticeReport, money: Mapping[tuple[str, str, int, str], int], described: dict[str, Any] | None
) -> dict[str, dict[str, str | None]]:
    """Per currency, formatted in its units: the point, and the image of the uplift's 95 % interval."""
    if described is None:
        return {}
    intervals: dict[str, dict[str, str | None]] = {}
    for currency, amount in treatment_money(row, money).items():
        if amount == 0:
            continue  # a practice that costs nothing has no cost per customer kept
        point = cost_per_retained(
            amount, row.treatment.cases, row.treatment.retained, row.control.cases, row.control.retained
        )
        bounds = cost_interval(amount, row.treatment.cases, described["ci_low"], described["ci_high"])
        intervals[currency] = {
            "point": None if point is None else format_money(point, currency),
            "low": None if bounds is None or bounds.low_minor is None else format_money(bounds.low_minor, currency),
            "high": None if bounds is None or bounds.high_minor is None else format_money(bounds.high_minor, currency),
        }
    return intervals
