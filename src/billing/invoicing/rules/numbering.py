"""Invoice number formatting.

The gap-free sequence itself belongs to the database (a counter row updated
in the same transaction that finalises the invoice); this module only turns
(series, year, seq) into the printed number.
"""

from __future__ import annotations

SEQUENCE_DIGITS = 6


def format_invoice_number(series: str, year: int, seq: int) -> str:
    """E.g. ("INV", 2026, 42) -> "INV-2026-000042".

    The sequence is zero-padded to six digits so numbers sort as text within
    a year; a seventh digit is printed rather than truncated, because a
    shortened invoice number would collide with an earlier one.
    """
    if not series or "-" in series or not series.isprintable() or series.strip() != series:
        raise ValueError(f"series must be a non-empty printable code without '-': {series!r}")
    if not 1000 <= year <= 9999:
        raise ValueError(f"year must have four digits, got {year}")
    if seq < 1:
        raise ValueError(f"sequence numbers start at 1, got {seq}")
    return f"{series}-{year:04d}-{seq:0{SEQUENCE_DIGITS}d}"
