"""Good standing has one meaning (src/billing/accounts/rules/standing.py): no overdue invoice."""

from __future__ import annotations

import pytest

from billing.accounts.rules.standing import Standing, in_good_standing, standing_shortfall


def test_an_account_with_nothing_overdue_is_in_good_standing() -> None:
    assert in_good_standing(0)
    assert standing_shortfall(0) is None
    assert Standing("acc-1", overdue_invoices=0, open_disputes=0).good


@pytest.mark.parametrize("overdue", [1, 2, 12])
def test_an_overdue_invoice_ends_good_standing_and_says_how_many(overdue: int) -> None:
    assert not in_good_standing(overdue)
    assert standing_shortfall(overdue) == f"{overdue} overdue invoice(s)"
    assert not Standing("acc-1", overdue_invoices=overdue, open_disputes=0).good


def test_an_open_dispute_is_not_a_mark_against_standing() -> None:
    # Disputing a bill is the customer's right; the authority grants goodwill on disputed accounts.
    assert Standing("acc-1", overdue_invoices=0, open_disputes=3).good


def test_counts_are_never_negative() -> None:
    with pytest.raises(ValueError):
        Standing("acc-1", overdue_invoices=-1, open_disputes=0)
    with pytest.raises(ValueError):
        Standing("acc-1", overdue_invoices=0, open_disputes=-1)
