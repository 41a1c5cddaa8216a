"""Money arithmetic for billing: the single place where amounts are rounded.

The money rule
--------------
1. Every amount is an ``int`` of *minor units* of its currency (cents for
   EUR, yen for JPY, fils for BHD and JOD). The number of decimals of each
   currency lives in ``CURRENCY_EXPONENTS``, the one ISO 4217 table of the
   code base. ``float`` never touches money.
2. Unit prices in configuration are ``Decimal`` strings in MINOR units per
   billing unit: a EUR voice price of ``"0.25"`` is a quarter cent per second,
   a JPY price of ``"0.5"`` is half a yen per second. Sub-minor prices are
   therefore exact and products such as ``units * unit_price`` stay exact
   ``Decimal`` values until they are rounded.
3. Rounding happens once per invoice line, only through ``round_minor``,
   with ROUND_HALF_UP (ties move away from zero; the rule Kill Bill uses).
   Every other helper here (``percent_of``, ``prorate``) delegates to it.
4. Percentages are basis points: 1900 bp = 19 %. Discounts use integer
   basis points; a tax rate may be an exact ``Decimal`` with a fraction of a
   basis point (Quebec's 14.975 % = 1497.5 bp), never a float.
5. Splitting an amount into parts uses the largest-remainder method
   (``allocate``) so the parts always add back up to the whole.
6. Tax is ``round_minor(taxable * rate_bp / 10000)`` computed once on the
   invoice's taxable subtotal (after discounts), never per line, so the tax
   line cannot drift from the rate by an accumulation of per-line rounding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType

BASIS_POINTS_PER_WHOLE = 10_000

# Every active ISO 4217 code (list one, funds codes included) with its minor unit as ISO lists it. The one
# table: schemas, the catalog, formatting and the API all read it from here. Codes whose minor unit ISO gives
# as "N.A." (XAU, XDR, XTS, XXX...) are not money that can be billed and are absent. Not CLDR (Babel): CLDR's
# display precision differs from ISO for several codes (IQD 0, RSD 0, LAK 0...), and amounts here are ISO's.
CURRENCY_EXPONENTS: Mapping[str, int] = MappingProxyType(
    {
        "AED": 2,
        "AFN": 2,
        "ALL": 2,
        "AMD": 2,
        "ANG": 2,
        "AOA": 2,
        "ARS": 2,
        "AUD": 2,
        "AWG": 2,
        "AZN": 2,
        "BAM": 2,
        "BBD": 2,
        "BDT": 2,
        "BGN": 2,
        "BHD": 3,
        "BIF": 0,
        "BMD": 2,
        "BND": 2,
        "BOB": 2,
        "BOV": 2,
        "BRL": 2,
        "BSD": 2,
        "BTN": 2,
        "BWP": 2,
        "BYN": 2,
        "BZD": 2,
        "CAD": 2,
        "CDF": 2,
        "CHE": 2,
        "CHF": 2,
        "CHW": 2,
        "CLF": 4,
        "CLP": 0,
        "CNY": 2,
        "COP": 2,
        "COU": 2,
        "CRC": 2,
        "CUC": 2,
        "CUP": 2,
        "CVE": 2,
        "CZK": 2,
        "DJF": 0,
        "DKK": 2,
        "DOP": 2,
        "DZD": 2,
        "EGP": 2,
        "ERN": 2,
        "ETB": 2,
        "EUR": 2,
        "FJD": 2,
        "FKP": 2,
        "GBP": 2,
        "GEL": 2,
        "GHS": 2,
        "GIP": 2,
        "GMD": 2,
        "GNF": 0,
        "GTQ": 2,
        "GYD": 2,
        "HKD": 2,
        "HNL": 2,
        "HTG": 2,
        "HUF": 2,
        "IDR": 2,
        "ILS": 2,
        "INR": 2,
        "IQD": 3,
        "IRR": 2,
        "ISK": 0,
        "JMD": 2,
        "JOD": 3,
        "JPY": 0,
        "KES": 2,
        "KGS": 2,
        "KHR": 2,
        "KMF": 0,
        "KPW": 2,
        "KRW": 0,
        "KWD": 3,
        "KYD": 2,
        "KZT": 2,
        "LAK": 2,
        "LBP": 2,
        "LKR": 2,
        "LRD": 2,
        "LSL": 2,
        "LYD": 3,
        "MAD": 2,
        "MDL": 2,
        "MGA": 2,
        "MKD": 2,
        "MMK": 2,
        "MNT": 2,
        "MOP": 2,
        "MRU": 2,
        "MUR": 2,
        "MVR": 2,
        "MWK": 2,
        "MXN": 2,
        "MXV": 2,
        "MYR": 2,
        "MZN": 2,
        "NAD": 2,
        "NGN": 2,
        "NIO": 2,
        "NOK": 2,
        "NPR": 2,
        "NZD": 2,
        "OMR": 3,
        "PAB": 2,
        "PEN": 2,
        "PGK": 2,
        "PHP": 2,
        "PKR": 2,
        "PLN": 2,
        "PYG": 0,
        "QAR": 2,
        "RON": 2,
        "RSD": 2,
        "RUB": 2,
        "RWF": 0,
        "SAR": 2,
        "SBD": 2,
        "SCR": 2,
        "SDG": 2,
        "SEK": 2,
        "SGD": 2,
        "SHP": 2,
        "SLE": 2,
        "SOS": 2,
        "SRD": 2,
        "SSP": 2,
        "STN": 2,
        "SVC": 2,
        "SYP": 2,
        "SZL": 2,
        "THB": 2,
        "TJS": 2,
        "TMT": 2,
        "TND": 3,
        "TOP": 2,
        "TRY": 2,
        "TTD": 2,
        "TWD": 2,
        "TZS": 2,
        "UAH": 2,
        "UGX": 0,
        "USD": 2,
        "USN": 2,
        "UYI": 0,
        "UYU": 2,
        "UYW": 4,
        "UZS": 2,
        "VED": 2,
        "VES": 2,
        "VND": 0,
        "VUV": 0,
        "WST": 2,
        "XAF": 0,
        "XCD": 2,
        "XCG": 2,
        "XOF": 0,
        "XPF": 0,
        "YER": 2,
        "ZAR": 2,
        "ZMW": 2,
        "ZWG": 2,
    }
)


class UnknownCurrencyError(ValueError):
    """Raised for a currency code that has no entry in CURRENCY_EXPONENTS."""


def currency_exponent(currency: str) -> int:
    """Number of decimals of ``currency``'s minor unit."""
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise UnknownCurrencyError(f"unknown currency {currency!r}: not an ISO 4217 code with minor units") from None


def round_minor(amount: Decimal) -> int:
    """Round an exact minor-unit amount to a whole minor unit, half up.

    ``to_integral_value`` is used instead of ``quantize`` because it is exact
    for any magnitude and does not depend on the context precision.
    """
    if not isinstance(amount, Decimal):
        raise TypeError(f"round_minor expects Decimal, got {type(amount).__name__}")
    return int(amount.to_integral_value(rounding=ROUND_HALF_UP))


def percent_of(amount_minor: int, basis_points: int | Decimal) -> int:
    """``basis_points`` of ``amount_minor``, rounded half up.

    A ``Decimal`` rate may have a fraction of a basis point (14.975 % = 1497.5 bp). The product is exact
    while it has at most the context's 28 digits (an amount of 16 digits, over any JSON-safe integer, times
    a rate of up to 12), and dividing by 10,000 only moves the decimal point: the rounding is the only one.
    """
    if isinstance(basis_points, float):
        raise TypeError("percent_of expects int or Decimal basis points, never float")
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
        raise ValueError(f"days_used must be within 0..{days_in_period}, got {days_used}")
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
    by_largest_remainder = sorted(range(len(weights)), key=lambda index: -floors_and_remainders[index][1])
    for index in by_largest_remainder[:leftover]:
        parts[index] += 1
    return parts


def to_major_units(amount_minor: int, currency: str) -> Decimal:
    """Exact major-unit value for display, e.g. 1234 EUR -> Decimal('12.34')."""
    return Decimal(amount_minor).scaleb(-currency_exponent(currency))
