"""What discount requests look like at the runtime's edges: the ask, the outcome, and the two errors."""

from __future__ import annotations

from dataclasses import dataclass, field

from billing.discounts.rules.grants import GrantRequest


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


__all__ = ["DiscountAsk", "GrantOutcome", "RequestConflict", "RequestNotFound"]
