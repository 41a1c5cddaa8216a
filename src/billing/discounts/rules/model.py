"""What discount requests look like at the runtime's edges: the ask, the outcome, the two errors, and the
credit-note issuer the authority is handed (the credits context owns credit notes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from billing.discounts.rules.grants import GrantRequest, PastGrant, Refused


@dataclass(frozen=True)
class DiscountAsk:
    """What an agent asks for (the API body plus who and for which task)."""

    request: GrantRequest
    reason_code: str
    criteria: tuple[str, ...]
    invoice_id: str | None = None  # credit notes only: the invoice to credit
    task_id: str | None = None
    # A dispute credit (src/billing/credits/resolution.py): the dispute it settles, the amount disputed (a cap on
    # the credit, checked when it is asked for; it never changes) and the resolver's reason.
    dispute_id: str | None = None
    disputed_minor: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class GrantOutcome:
    status: str  # granted | pending_approval | refused
    request_id: str
    value_minor: int = 0
    rule: str | None = None
    reason: str | None = None
    task_id: str | None = None
    credit_note_number: str | None = None
    exceeded: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "exceeded": list(self.exceeded)}


class RequestNotFound(LookupError):
    pass


class RequestConflict(Exception):
    """The request is not pending (already approved or refused)."""


class CreditNoteIssuer(Protocol):
    """What the discount authority needs of credit notes, which belong to the credits context
    (src/billing/credits/credit_grants.py implements it; the callers hand it in). A ``credit_note`` grant is
    decided by the authority like any other; whether the invoice can take the credit, and the note itself, are
    the credits context's. Both run in the caller's transaction (``conn``: an asyncpg connection)."""

    async def refusal(self, conn: Any, ask: DiscountAsk) -> Refused | None:
        """Why the invoice cannot take this credit (locking it until the transaction ends), or None."""
        ...

    async def issue(self, conn: Any, ask: DiscountAsk, grant: PastGrant, now: datetime) -> str:
        """Issue the granted credit's note (once per grant); its number."""
        ...


__all__ = ["CreditNoteIssuer", "DiscountAsk", "GrantOutcome", "RequestConflict", "RequestNotFound"]
