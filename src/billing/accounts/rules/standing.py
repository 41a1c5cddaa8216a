"""Good standing, the one meaning the retention offer and the discount authority share: the account pays its bills.

An account is in good standing when none of its invoices is overdue. An open dispute is not a mark against it:
disputing a bill is the customer's right, and the authority has always granted goodwill to an account with a
dispute open (a credit on the dispute itself, a discount for an outage). A retention offer waits for an open
dispute to be settled for its own reason (src/billing/retention/rules/offers.py), not because of standing.

The overdue count is supplied by collections (src/billing/collections/readers.py): invoices still open that the
dunning pass saw past their due date plus grace, in event time. A payment that clears them restores good
standing at once.

Pure: the facts are read by src/billing/accounts/standing.py and handed in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Standing:
    """What is known of an account's standing: its overdue invoices and its open disputes."""

    account_id: str
    overdue_invoices: int  # open invoices past due date + grace (collections)
    open_disputes: int

    def __post_init__(self) -> None:
        if self.overdue_invoices < 0 or self.open_disputes < 0:
            raise ValueError(f"{self.account_id}: negative counts in {self!r}")

    @property
    def good(self) -> bool:
        return in_good_standing(self.overdue_invoices)


def in_good_standing(overdue_invoices: int) -> bool:
    """True when no invoice of the account is overdue."""
    return overdue_invoices == 0


def standing_shortfall(overdue_invoices: int) -> str | None:
    """Why the account is not in good standing, in words; None when it is."""
    if in_good_standing(overdue_invoices):
        return None
    return f"{overdue_invoices} overdue invoice(s)"
