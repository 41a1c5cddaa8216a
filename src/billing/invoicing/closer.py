"""Cycle close: every account cycle whose end (plus the grace period) has passed gets its invoice.

Work goes in batches: lock up to ``batch_size`` due accounts (SKIP LOCKED, so concurrent closers take
disjoint batches), fetch all their inputs in a few set-based queries, build the drafts with the pure core,
and write invoices, numbers, outbox events, grant applications, billed units and the accounts' next cycle
in one transaction (issuing.py writes them). An account several cycles behind is picked again by a later batch, once per cycle, in
order. A rerun finds nothing due; UNIQUE (account_id, period_start) would refuse a second invoice anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import asyncpg

from billing.invoicing import store
from billing.invoicing.events import invoice_id_for, wire_lines
from billing.invoicing.issuing import write_batch
from billing.invoicing.rules import inputs
from billing.invoicing.rules.calculation import build_invoice
from billing.invoicing.rules.catalog import Catalog
from billing.invoicing.rules.close_model import Advance, BatchInputs, ClosedCycle, CloseReport, DueAccount
from billing.invoicing.rules.safety import is_outlier
from billing.platform.concurrency import all_or_none
from billing.platform.logs import get_logger
from billing.platform.settings import Settings
from billing.platform.unit_of_work import unit_of_work

log = get_logger("billing.invoicing")
Progress = Callable[[CloseReport], None]


@dataclass
class _Batch:
    closed: list[ClosedCycle] = field(default_factory=list)
    advances: list[Advance] = field(default_factory=list)
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def due_cutoff(as_of: datetime, settings: Settings) -> date:
    """Cycles ending on or before this day are due: their last day plus the grace period is over."""
    return (as_of - timedelta(seconds=settings.cycle_close_grace_s)).astimezone(UTC).date()


async def close_due_cycles(
    pool: asyncpg.Pool,
    catalog: Catalog,
    settings: Settings,
    as_of: datetime,
    batch_size: int = 1000,
    *,
    accounts: Sequence[str] | None = None,
    issued_at: datetime | None = None,
    progress: Progress | None = None,
    refused: dict[str, str] | None = None,
    concurrency: int = 2,
) -> CloseReport:
    """Close every cycle due as of ``as_of`` (event time); ``accounts`` limits the run to those accounts.

    Invoices are dated ``issued_at``, by default ``as_of``: the same clock that decided the cycle was due,
    so a back-fill or a replay dates its invoices the same way.

    An account whose cycle cannot be built from its data (e.g. its plan has no version in force at the cycle
    start) is refused: left out for the rest of the run, or the batch loop would pick it forever. A caller that
    passes its own ``refused`` (account id -> reason) keeps them out of later runs too, and ``errors`` lists
    only the accounts refused for the first time; the account keeps its open cycle, nothing is dropped.

    ``concurrency`` batches run at once on their own connections, so one batch's Python work overlaps another's
    database work; SKIP LOCKED gives them disjoint accounts and the series row orders their numbers.
    """
    issued_at = (issued_at or as_of).astimezone(UTC)
    cutoff = due_cutoff(as_of, settings)
    report = CloseReport()
    started = time.monotonic()
    refused = {} if refused is None else refused
    known = set(refused)
    calendar = inputs.PlanCalendar(catalog)

    async def close_batches() -> None:
        while batch := await _close_batch(pool, calendar, settings, cutoff, issued_at, batch_size, refused, accounts):
            held = sum(1 for closed in batch.closed if closed.held)
            report.issued += len(batch.closed) - held
            report.held += held
            report.skipped += batch.skipped + len(batch.failed)
            report.seconds = time.monotonic() - started
            if progress:
                progress(report)

    await all_or_none([close_batches() for _ in range(max(1, concurrency))])
    report.errors = [f"{account_id}: {reason}" for account_id, reason in refused.items() if account_id not in known]
    report.seconds = time.monotonic() - started
    return report


async def _close_batch(
    pool: asyncpg.Pool,
    calendar: inputs.PlanCalendar,
    settings: Settings,
    cutoff: date,
    issued_at: datetime,
    batch_size: int,
    refused: dict[str, str],
    only: Sequence[str] | None,
) -> _Batch | None:
    async with unit_of_work(pool) as conn:
        due = await store.lock_due_accounts(conn, cutoff, batch_size, list(refused), only)
        if not due:
            return None
        fetched = await store.fetch_inputs(conn, due)
        batch = _build_batch(calendar, settings, due, fetched, issued_at)
        refused.update(batch.failed)  # before the commit: a concurrent batch must not pick these up again
        await write_batch(conn, settings, batch.closed, batch.advances, issued_at)
    for account_id, reason in batch.failed.items():
        log.error(
            "cycle not closed",
            account_id=account_id,
            reason=reason,
            action="the account keeps its open cycle: fix the catalog (CATALOG_PATH: a plan version in force"
            " at the cycle start) or the account's plan (account.plan_changed), then close it again",
        )
    return batch


def _build_batch(
    calendar: inputs.PlanCalendar,
    settings: Settings,
    due: Sequence[DueAccount],
    fetched: BatchInputs,
    issued_at: datetime,
) -> _Batch:
    batch = _Batch()
    late_days = settings.late_usage_limit_days
    for account in due:
        period = inputs.billing_period(account)
        if period is None or account.account_id in fetched.already_invoiced:
            # Nothing to bill or invoiced before: just move on.
            batch.skipped += 1
            batch.advances.append(_advance_past(account, period, late_days))
            continue
        if period.adjustment and account.cycle_end < inputs.adjustment_deadline(account, late_days):
            # A closing that arrived after its cycle was invoiced: its final adjustment waits for the deadline too.
            batch.skipped += 1
            batch.advances.append(
                Advance(account.account_id, account.cycle_start, inputs.adjustment_deadline(account, late_days))
            )
            continue
        try:
            closed = _close_one(calendar, settings, account, period, fetched, issued_at)
        except ValueError as error:  # InvoiceError, CatalogError, schema errors: this account's data, not ours
            batch.failed[account.account_id] = str(error)
            continue
        if closed is None:
            batch.skipped += 1  # a final adjustment with no late usage: no invoice, the account is done
        else:
            batch.closed.append(closed)
        batch.advances.append(inputs.advance_after(account, period, late_days))
    return batch


def _advance_past(account: DueAccount, period: inputs.BillingPeriod | None, late_days: int) -> Advance:
    if period is None:
        return Advance(account.account_id, None, None)
    return inputs.advance_after(account, period, late_days)


def _close_one(
    calendar: inputs.PlanCalendar,
    settings: Settings,
    account: DueAccount,
    period: inputs.BillingPeriod,
    fetched: BatchInputs,
    issued_at: datetime,
) -> ClosedCycle | None:
    """The cycle's invoice; None for a final adjustment that has no late usage to bill."""
    account_id = account.account_id
    usage = inputs.billable_rows(account, fetched.usage.get(account_id, []), period)
    invoice = inputs.invoice_input(
        calendar,
        account,
        period,
        fetched.plan_changes.get(account_id, []),
        usage,
        fetched.grants.get(account_id, []),
        issued_at,
    )
    if period.adjustment and not invoice.late_usage:
        return None
    draft = inputs.without_stand_in(build_invoice(invoice))
    history = fetched.history.get(account_id, [])
    hold_reason = None
    upstream = fetched.upstream.get(account_id)
    if upstream is not None:
        # Issuing would bill the period twice; dropping the cycle would lose its usage. A reviewer decides.
        hold_reason = f"upstream invoice {upstream} already covers this period; held so it is not billed twice"
    elif is_outlier(draft.total_minor, history, factor=settings.invoice_outlier_factor):
        hold_reason = (
            f"total {draft.total_minor} is over {settings.invoice_outlier_factor} times the median of the"
            f" last {len(history)} issued invoices; held for review"
        )
    return ClosedCycle(
        account=account,
        invoice_id=invoice_id_for(account_id, account.cycle_start),
        period_end=period.end,
        draft=draft,
        lines=wire_lines(draft, account.jurisdiction),
        hold_reason=hold_reason,
        grant_applications=inputs.grant_applications(draft),
        priced_usage=tuple(usage),
        recent_totals=tuple(history),
    )
