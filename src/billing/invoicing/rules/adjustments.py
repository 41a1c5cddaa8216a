"""Applying discount and credit grants to an invoice without going below zero.

Order, and why:
1. Percent discounts, each measured on the pre-discount subtotal (they do
   not compound, so the customer gets exactly the advertised percentages).
2. Fixed discounts, in the order given. Percent goes first because a percent
   grant has no balance to carry, whereas a capped fixed grant keeps its
   unused remainder for the next invoice.
3. Tax on what is left (discounts lower the taxable amount).
4. Credits (account balance) against the taxed amount, like a payment.

Every grant is capped at what is still payable; fixed and credit grants
report the unused remainder as carry-forward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from billing.invoicing.rules.invoice_model import Adjustment, AdjustmentKind, InvoiceError
from billing.money import percent_of


@dataclass(frozen=True)
class GrantApplication:
    adjustment: Adjustment
    applied_minor: int  # positive amount taken off the invoice
    carry_forward_minor: int


def _required(value: int | None, grant: Adjustment) -> int:
    """A field the grant's kind requires; Adjustment refuses to exist without it, so None here is a bug."""
    if value is None:
        raise InvoiceError(f"{grant.grant_id}: a field its kind {grant.kind} requires is missing")
    return value


_WANTED_MINOR: Mapping[AdjustmentKind, Callable[[Adjustment, int], int]] = {
    AdjustmentKind.PERCENT: lambda grant, subtotal: percent_of(subtotal, _required(grant.percent_bp, grant)),
    AdjustmentKind.FIXED: lambda grant, _subtotal: _required(grant.amount_minor, grant),
    AdjustmentKind.CREDIT: lambda grant, _subtotal: _required(grant.amount_minor, grant),
}

# Only grants that are balances survive a cap; a percentage is not a balance.
_CARRIES_BALANCE: Mapping[AdjustmentKind, bool] = {
    AdjustmentKind.PERCENT: False,
    AdjustmentKind.FIXED: True,
    AdjustmentKind.CREDIT: True,
}

_BEFORE_TAX_ORDER: Mapping[AdjustmentKind, int] = {
    AdjustmentKind.PERCENT: 0,
    AdjustmentKind.FIXED: 1,
}


def check_unique_grants(adjustments: Iterable[Adjustment]) -> None:
    grant_ids = [grant.grant_id for grant in adjustments]
    if len(set(grant_ids)) != len(grant_ids):
        raise InvoiceError(f"each grant may be applied once per invoice: {grant_ids}")


def _apply_capped(
    grants: Iterable[Adjustment], pre_discount_subtotal: int, payable_minor: int
) -> list[GrantApplication]:
    applications = []
    for grant in grants:
        wanted = _WANTED_MINOR[grant.kind](grant, pre_discount_subtotal)
        applied = min(wanted, payable_minor)
        payable_minor -= applied
        leftover = wanted - applied if _CARRIES_BALANCE[grant.kind] else 0
        applications.append(GrantApplication(grant, applied, leftover))
    return applications


def apply_discounts(subtotal_minor: int, adjustments: Iterable[Adjustment]) -> list[GrantApplication]:
    """Percent then fixed discounts, never taking more than the subtotal."""
    discounts = sorted(
        (grant for grant in adjustments if grant.kind in _BEFORE_TAX_ORDER),
        key=lambda grant: _BEFORE_TAX_ORDER[grant.kind],
    )
    return _apply_capped(discounts, subtotal_minor, subtotal_minor)


def apply_credits(amount_due_minor: int, adjustments: Iterable[Adjustment]) -> list[GrantApplication]:
    """Credits in the given order, never taking more than the taxed amount due."""
    credits = [grant for grant in adjustments if grant.kind is AdjustmentKind.CREDIT]
    return _apply_capped(credits, amount_due_minor, amount_due_minor)


def carry_forward(applications: Iterable[GrantApplication]) -> dict[str, int]:
    """Unused balance per grant id, only for grants that have some left."""
    return {
        application.adjustment.grant_id: application.carry_forward_minor
        for application in applications
        if application.carry_forward_minor > 0
    }
