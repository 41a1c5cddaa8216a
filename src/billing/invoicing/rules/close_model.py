"""Plain records the cycle closer passes between its database layer (store.py) and its pure assembly (inputs.py).

They mirror rows, not business concepts: the business rules stay in src/billing/invoicing/rules/, which knows nothing of
tables, and these records stay free of rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from billing.invoicing.rules.invoice_model import InvoiceDraft


@dataclass(frozen=True)
class DueAccount:
    """An account whose next cycle is due, as locked by the batch."""

    account_id: str
    currency: str
    jurisdiction: str
    anchor_day: int
    cycle_start: date
    cycle_end: date  # as stored: the regular end, or the day after closing for a closed account
    closed_on: date | None  # UTC date of closed_at


@dataclass(frozen=True)
class PlanChange:
    plan_id: str
    effective_at: datetime


@dataclass(frozen=True)
class UsageRow:
    """One cycle_usage row: billable units per cycle, plan version and service."""

    row_ref: object  # the locked row's ctid, to mark exactly these rows billed
    account_id: str
    cycle_start: date
    plan_id: str
    plan_version: int
    service: str
    billable_units: int
    billed_units: int


@dataclass(frozen=True)
class GrantRow:
    """A discount grant with what earlier invoices already took from it."""

    grant_id: str
    kind: str
    percent_bp: int | None
    invoice_count: int | None
    amount_minor: int | None
    currency: str | None
    granted_at: datetime
    applied_minor: int
    applied_count: int


@dataclass
class BatchInputs:
    """Everything a batch of due accounts needs, fetched set-based, keyed by account id."""

    plan_changes: dict[str, list[PlanChange]] = field(default_factory=dict)
    usage: dict[str, list[UsageRow]] = field(default_factory=dict)
    grants: dict[str, list[GrantRow]] = field(default_factory=dict)
    history: dict[str, list[int]] = field(default_factory=dict)
    already_invoiced: set[str] = field(default_factory=set)
    # account id -> an invoice an upstream producer issued for a period overlapping the due cycle
    upstream: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ClosedCycle:
    """One invoice to write, with the bookkeeping that must commit with it."""

    account: DueAccount
    invoice_id: str
    period_end: date
    draft: InvoiceDraft
    lines: list[dict[str, Any]]  # wire form (billing.contracts.invoices.InvoiceLine layout)
    hold_reason: str | None
    grant_applications: tuple[tuple[str, int], ...]  # (grant_id, amount_minor)
    priced_usage: tuple[UsageRow, ...]
    recent_totals: tuple[int, ...] = ()  # the issued history the safety bound compared with, oldest first

    @property
    def held(self) -> bool:
        return self.hold_reason is not None


@dataclass(frozen=True)
class Advance:
    """Where an account's next cycle goes after this batch; both None once the final invoice is out."""

    account_id: str
    next_start: date | None
    next_end: date | None


@dataclass
class CloseReport:
    issued: int = 0
    held: int = 0
    skipped: int = 0  # due cycles not invoiced: already invoiced, nothing left to bill, or refused (see errors)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def invoices(self) -> int:
        return self.issued + self.held

    @property
    def per_second(self) -> float:
        return self.invoices / self.seconds if self.seconds > 0 else 0.0
