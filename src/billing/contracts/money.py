"""Currency codes and integer minor-unit amounts.

Money is never a float: amounts travel as integers in the currency's minor
unit (cents, öre, fils...), and the exponent table says how to display them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from billing.contracts.base import JSON_SAFE_MAX, FrozenModel
from billing.money import CURRENCY_EXPONENTS, currency_exponent, to_major_units

# CURRENCY_EXPONENTS, the one ISO 4217 table, belongs to the money owner (src/billing/money.py) and is
# re-exported here for producers. An unknown code is refused rather than defaulted to 2, since a wrong exponent
# would misprice every amount by a factor of 10 or 100.


def _known_currency(code: str) -> str:
    currency_exponent(code)
    return code


CurrencyCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    AfterValidator(_known_currency),
    # Published in the JSON Schema so non-Python producers see the same table.
    Field(json_schema_extra={"enum": sorted(CURRENCY_EXPONENTS)}),
]

# Strict: JSON 1.5, "150" and true are all refused instead of coerced.
MinorUnits = Annotated[int, Field(strict=True, ge=-JSON_SAFE_MAX, le=JSON_SAFE_MAX)]
NonNegativeMinor = Annotated[int, Field(strict=True, ge=0, le=JSON_SAFE_MAX)]
NonPositiveMinor = Annotated[int, Field(strict=True, ge=-JSON_SAFE_MAX, le=0)]


class Money(FrozenModel):
    """An exact amount: integer minor units plus the currency they belong to."""

    amount_minor: MinorUnits
    currency: CurrencyCode

    def as_decimal(self) -> Decimal:
        """Major-unit value for display (e.g. 1999 EUR -> Decimal('19.99'))."""
        return to_major_units(self.amount_minor, self.currency)


def _positive(money: Money) -> Money:
    if money.amount_minor <= 0:
        raise ValueError("amount_minor must be greater than 0")
    return money


# Signed Money is the default; models that need a strictly positive amount
# (dispute claims, credits, grants) say so with this alias.
PositiveMoney = Annotated[Money, AfterValidator(_positive)]


# The largest amount, in minor units, that any API request or event may carry (every amount field is bounded
# by it, ±): 2**53 - 1, about 90 trillion euros in cents. It is the largest integer every JSON reader keeps
# exactly (JavaScript's numbers are doubles), far beyond any telecom bill, and 1,024 such amounts still add up
# within PostgreSQL's bigint, so sums in SQL cannot overflow where a single amount could not. It is the same
# number as JSON_SAFE_MAX, which MinorUnits above already uses.
MAX_AMOUNT_MINOR = JSON_SAFE_MAX
