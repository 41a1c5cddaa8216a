"""Plausibility check before an invoice is released.

Kill Bill parks invoices that look wrong instead of sending them, because a
mis-rated batch or a catalog typo is far cheaper to catch before the customer
(or their bank, via direct debit) sees it. Here an invoice is suspicious when
its total exceeds ``factor`` times the median of the account's recent
invoice totals. The median, not the mean, so one earlier odd month does not
hide the next one.
"""

from __future__ import annotations

from collections.abc import Sequence


def _twice_median(values: Sequence[int]) -> int:
    """2 x median, kept in integers so an even-length median needs no float."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return 2 * ordered[middle]
    return ordered[middle - 1] + ordered[middle]


def is_outlier(total_minor: int, history: Sequence[int], factor: int = 5, min_history: int = 3) -> bool:
    """True if ``total_minor`` is over ``factor`` x the median of ``history``.

    With fewer than ``min_history`` earlier invoices there is no baseline to
    judge against, so no verdict is given and the answer is False (a new
    account's first invoices go out unparked). A history of zero totals makes
    any positive total an outlier: the first real bill after free months is
    exactly the kind of jump a human should look at.
    """
    if factor < 1 or min_history < 1:
        raise ValueError("factor and min_history must be at least 1")
    if len(history) < min_history:
        return False
    return 2 * total_minor > factor * _twice_median(history)
