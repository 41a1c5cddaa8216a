"""Invoice dispute payloads."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import model_validator

from billing.contracts.base import AccountId, Count, FrozenModel, Identifier, Text64, Text500
from billing.contracts.money import PositiveMoney


class DisputeReason(StrEnum):
    INCORRECT_CHARGE = "incorrect_charge"
    SERVICE_NOT_RECEIVED = "service_not_received"
    ROAMING = "roaming"
    FRAUD = "fraud"
    OTHER = "other"


class DisputeOutcome(StrEnum):
    CREDITED = "credited"
    REJECTED = "rejected"


class DisputeOpened(FrozenModel):
    """A customer disputes (part of) an invoice line; the disputed amount is held while it is open."""

    account_id: AccountId
    dispute_id: Identifier
    invoice_id: Identifier
    line_id: Identifier | None = None
    amount: PositiveMoney
    reason: DisputeReason
    note: Text500 | None = None


class DisputeResolved(FrozenModel):
    """The dispute was decided: credited (with a credit note) or rejected; final."""

    account_id: AccountId
    dispute_id: Identifier
    invoice_id: Identifier
    outcome: DisputeOutcome
    credit: PositiveMoney | None = None
    reason: Text500
    # Set by the care desk (src/billing/credits/dispute_store.py); absent on resolutions from older producers.
    resolved_by: Identifier | None = None
    resolve_ms: Count | None = None

    @model_validator(mode="after")
    def _credit_matches_outcome(self) -> Self:
        # Ledger posting keys off `credit`; a rejected dispute carrying one, or
        # a credited one without, would post the wrong amount or nothing.
        credited = self.outcome is DisputeOutcome.CREDITED
        if credited and self.credit is None:
            raise ValueError("credit is required when outcome is 'credited'")
        if not credited and self.credit is not None:
            raise ValueError("credit must be absent when outcome is 'rejected'")
        return self


class DisputeRouted(FrozenModel):
    """The dispute became a task in an agent queue (its disputed amount is held from here on too)."""

    account_id: AccountId
    dispute_id: Identifier
    invoice_id: Identifier
    task_id: Identifier
    queue: Text64


class DisputeInReview(FrozenModel):
    """An agent started reviewing the dispute."""

    account_id: AccountId
    dispute_id: Identifier
    invoice_id: Identifier
    agent_id: Identifier
