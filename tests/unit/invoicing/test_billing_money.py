from decimal import Decimal

import pytest

from billing.money import (
    CURRENCY_EXPONENTS,
    UnknownCurrencyError,
    allocate,
    currency_exponent,
    percent_of,
    prorate,
    round_minor,
    to_major_units,
)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("30.5", 31),  # tie goes up
        ("30.49", 30),
        ("0.5", 1),
        ("-0.5", -1),  # HALF_UP is away from zero, like Java's RoundingMode.HALF_UP
        ("-30.49", -30),
        ("52.224", 52),
        ("507.49", 507),
    ],
)
def test_round_minor_is_half_up(amount, expected):
    assert round_minor(Decimal(amount)) == expected


def test_round_minor_refuses_float():
    with pytest.raises(TypeError):
        round_minor(0.5)  # type: ignore[arg-type]


def test_exponents_table():
    assert CURRENCY_EXPONENTS["EUR"] == 2
    assert CURRENCY_EXPONENTS["JPY"] == 0
    assert CURRENCY_EXPONENTS["KWD"] == 3
    with pytest.raises(UnknownCurrencyError, match="XXX"):
        currency_exponent("XXX")


def test_to_major_units():
    assert to_major_units(1234, "EUR") == Decimal("12.34")
    assert to_major_units(1234, "JPY") == Decimal("1234")
    assert to_major_units(1234, "BHD") == Decimal("1.234")


def test_percent_of():
    # 2671 * 1900 / 10000 = 507.49 -> 507
    assert percent_of(2671, 1900) == 507
    # 3025 * 1000 / 10000 = 302.5 -> 303 (tie up)
    assert percent_of(3025, 1000) == 303
    assert percent_of(1000, 0) == 0


def test_prorate():
    # 1000 * 10 / 30 = 333.33 -> 333
    assert prorate(1000, 10, 30) == 333
    # 999 * 16 / 30 = 532.8 -> 533
    assert prorate(999, 16, 30) == 533
    # 1 * 15 / 30 = 0.5 -> 1
    assert prorate(1, 15, 30) == 1
    assert prorate(1000, 30, 30) == 1000
    with pytest.raises(ValueError):
        prorate(1000, 31, 30)
    with pytest.raises(ValueError):
        prorate(1000, 1, 0)


def test_allocate_largest_remainder():
    # 100 / 3: floors 33, 33, 33; one unit left, all remainders equal -> first part.
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    # 10 over 3:7 is exact.
    assert allocate(10, [3, 7]) == [3, 7]
    # 5 over 1:1:2 -> exact 1.25, 1.25, 2.5; floors 1, 1, 2 (sum 4); largest remainder is the
    # 0.5 of the third part.
    assert allocate(5, [1, 1, 2]) == [1, 1, 3]
    assert allocate(7, [0, 1]) == [0, 7]


def test_allocate_rejects_bad_weights():
    for weights in ([], [0, 0], [-1, 2]):
        with pytest.raises(ValueError):
            allocate(10, weights)
