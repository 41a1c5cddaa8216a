import pytest

from billing.invoicing.rules.numbering import format_invoice_number
from billing.invoicing.rules.safety import is_outlier


def test_outlier_over_five_times_median():
    history = [1000, 1200, 900]  # median 1000, threshold 5000
    assert not is_outlier(5000, history)
    assert is_outlier(5001, history)


def test_outlier_even_history_uses_exact_median():
    history = [1000, 1001, 5, 99999]  # median (1000 + 1001) / 2 = 1000.5, threshold 5002.5
    assert not is_outlier(5002, history)
    assert is_outlier(5003, history)


def test_no_verdict_with_too_little_history():
    assert not is_outlier(10**9, [100, 100])
    assert not is_outlier(10**9, [])


def test_zero_history_flags_any_positive_total():
    assert is_outlier(1, [0, 0, 0])
    assert not is_outlier(0, [0, 0, 0])


def test_invoice_number_format():
    assert format_invoice_number("INV", 2026, 42) == "INV-2026-000042"
    assert format_invoice_number("CN", 2027, 1_234_567) == "CN-2027-1234567"


@pytest.mark.parametrize(
    ("series", "year", "seq"), [("", 2026, 1), ("IN-V", 2026, 1), ("INV", 26, 1), ("INV", 2026, 0)]
)
def test_invoice_number_rejects_bad_parts(series, year, seq):
    with pytest.raises(ValueError):
        format_invoice_number(series, year, seq)
