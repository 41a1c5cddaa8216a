"""Money arithmetic for billing: the single place where amounts are rounded.

The money rule
--------------
1. Every amount is an ``int`` of *minor units* of its currency (cents for
   EUR, yen for JPY, fils for BHD). The number of decimals of each currency
   lives in ``CURRENCY_EXPONENTS``. ``float`` never touches money.
2. Unit prices in configuration are ``Decimal`` strings in MINOR units per
   billing unit: a EUR voice price of ``"0.25"`` is a quarter cent per second,
   a JPY price of ``"0.5"`` is half a yen per second. Sub-minor prices are
   therefore exact and products such as ``units * unit_price`` stay exact
   ``Decimal`` values until they are rounded.
3. Rounding happens once per invoice line, only through ``round_minor``,
   with ROUND_HALF_UP (ties move away from zero; the rule Kill Bill uses).
   Every other helper here (``percent_of``, ``prorate``) delegates to it.
4. Percentages are integer basis points: 1900 bp = 19 %.
5. Splitting an amount into parts uses the largest-remainder method
   (``allocate``) so the parts always add back up to the whole.
6. Tax is ``round_minor(taxable * rate_bp / 10000)`` computed once on the
   invoice's taxable subtotal (after discounts), never per line, so the tax
   line cannot drift from the rate by an accumulation of per-line rounding.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Mapping, Sequence

BASIS_POINTS_PER_WHOLE = 10_000

CURRENCY_EXPONENTS: Mapping[str, int] = MappingProxyType(
    {
        "EUR": 2,
        "USD": 2,
        "GBP": 2,
        "JPY": 0,
        "CLP": 0,
        "KRW": 0,
        "BHD": 3,
        "KWD": 3,
    }
)


class UnknownCurrencyError(ValueError):
    """Raised for a currency code that has no entry in CURRENCY_EXPONENTS."""


def currency_exponent(currency: str) -> int:
    """Number of decimals of ``currency``'s minor unit."""
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        known = ", ".join(sorted(CURRENCY_EXPONENTS))
        raise UnknownCurrencyError(
            f"unknown currency {currency!r}; known currencies: {known}"
        ) from None


def round_minor(amount: Decimal) -> int:
    """Round an exact minor-unit amount to a whole minor unit, half up.

    ``to_integral_value`` is used instead of ``quantize`` because it is exact
    for any magnitude and does not depend on the context precision.
    """
    if not isinstance(amount, Decimal):
        raise TypeError(f"round_minor expects Decimal, got {type(amount).__name__}")
    return int(amount.to_integral_value(rounding=ROUND_HALF_UP))


def percent_of(amount_minor: int, basis_points: int) -> int:
    """``basis_points`` of ``amount_minor``, rounded half up."""
    exact = Decimal(amount_minor) * basis_points / BASIS_POINTS_PER_WHOLE
    return round_minor(exact)


def prorate(amount_minor: int, days_used: int, days_in_period: int) -> int:
    """Share of ``amount_minor`` for ``days_used`` out of ``days_in_period``.

    Also used for whole-unit allowances: it is plain integer proration.
    The quotient may not terminate (1/3), but a ratio with a denominator of a
    few dozen days is never within Decimal's 28 digits of a .5 tie, so the
    half-up decision is the same as with exact fractions.
    """
    if days_in_period <= 0:
        raise ValueError(f"days_in_period must be positive, got {days_in_period}")
    if not 0 <= days_used <= days_in_period:
        raise ValueError(
            f"days_used must be within 0..{days_in_period}, got {days_used}"
        )
    exact = Decimal(amount_minor) * days_used / days_in_period
    return round_minor(exact)


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights``; the parts sum to ``total``.

    Largest remainder: every part first gets the floor of its exact share,
    then the minor units left over go one each to the parts with the largest
    fractional remainders (earlier parts win ties, so the split is
    deterministic). Each part is therefore within 1 of its exact share.
    """
    if not weights:
        raise ValueError("allocate needs at least one weight")
    if any(weight < 0 for weight in weights):
        raise ValueError(f"weights must not be negative: {list(weights)}")
    weight_sum = sum(weights)
    if weight_sum == 0:
        raise ValueError("weights must not all be zero")
    floors_and_remainders = [divmod(total * weight, weight_sum) for weight in weights]
    parts = [floor for floor, _ in floors_and_remainders]
    leftover = total - sum(parts)
    by_largest_remainder = sorted(
        range(len(weights)), key=lambda index: -floors_and_remainders[index][1]
    )
    for index in by_largest_remainder[:leftover]:
        parts[index] += 1
    return parts


def to_major_units(amount_minor: int, currency: str) -> Decimal:
    """Exact major-unit value for display, e.g. 1234 EUR -> Decimal('12.34')."""
    return Decimal(amount_minor).scaleb(-currency_exponent(currency))
