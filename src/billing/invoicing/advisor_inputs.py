"""The plan advisor for one account: its rows in ONE query, rebuilt into the closer's inputs, then advised.

An agent asks during the call, so the read is one round trip: the account, its plan changes, its invoices (our
closer's; an upstream producer's invoice has no rating inputs to re-price), its next-invoice grants with their
applications and the open cycle's usage rows, each aggregated as JSON by PostgreSQL. The rebuilding is pure
(src/billing/invoicing/rules/billed_cycles.py), the advice too (rules/plan_advisor.py).

The plan marked current is the one in force over the cycle advised, asked of the account's plan history
(src/billing/accounts/facts.py): at the event-time clock, kept within the open cycle, so a change scheduled for the
next cycle is not taken for the plan this cycle is billed on, and is reported as pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg
import orjson

from billing.accounts.facts import plan_history
from billing.accounts.rules.plan_periods import PlanStatus
from billing.invoicing.rules import inputs
from billing.invoicing.rules.billed_cycles import AdvisorRows, StoredGrant, StoredInvoice, billed_cycles, open_cycle
from billing.invoicing.rules.calculation import build_invoice
from billing.invoicing.rules.catalog import Catalog
from billing.invoicing.rules.close_model import DueAccount, GrantRow, PlanChange, UsageRow
from billing.invoicing.rules.plan_advisor import CycleSoFar, PlanAdvice, advise_plans

DEFAULT_CYCLES = 3

_ROWS = """
SELECT a.account_id, a.currency, a.jurisdiction, a.billing_anchor_day, a.next_cycle_start, a.next_cycle_end,
       (a.closed_at AT TIME ZONE 'UTC')::date AS closed_on,
  (SELECT coalesce(json_agg(json_build_object('plan_id', c.plan_id, 'effective_at', c.effective_at)
                            ORDER BY c.effective_at, c.event_id), '[]')
     FROM account_plan_changes c WHERE c.account_id = a.account_id)::text AS changes,
  (SELECT coalesce(json_agg(json_build_object('invoice_id', i.invoice_id, 'period_start', i.period_start,
                            'period_end', i.period_end, 'status', i.status, 'total_minor', i.total_minor,
                            'issued_at', i.issued_at, 'lines', i.lines) ORDER BY i.period_start), '[]')
     FROM invoices i WHERE i.account_id = a.account_id)::text AS invoices,
  (SELECT coalesce(json_agg(json_build_object('grant_id', g.grant_id, 'kind', g.kind, 'percent_bp', g.percent_bp,
                            'invoice_count', g.invoice_count, 'amount_minor', g.amount_minor,
                            'currency', g.currency, 'granted_at', g.granted_at,
                            'applied', (SELECT coalesce(json_agg(json_build_array(ap.invoice_id, ap.amount_minor)),
                                                        '[]')
                                        FROM grant_applications ap WHERE ap.grant_id = g.grant_id))
                            ORDER BY g.granted_at, g.grant_id), '[]')
     FROM discount_grants g
     WHERE g.account_id = a.account_id AND g.kind IN ('fixed_next_invoice', 'percent_next_invoices'))::text AS grants,
  (SELECT coalesce(json_agg(json_build_object('cycle_start', u.cycle_start, 'plan_id', u.plan_id,
                            'plan_version', u.plan_version, 'service', u.service,
                            'billable_units', u.billable_units, 'billed_units', u.billed_units)
                            ORDER BY u.cycle_start, u.plan_id, u.plan_version, u.service), '[]')
     FROM cycle_usage u
     WHERE u.account_id = a.account_id AND u.cycle_start <= a.next_cycle_start
       AND (u.cycle_start = a.next_cycle_start OR u.billable_units > u.billed_units))::text AS usage
FROM accounts a WHERE a.account_id = $1
"""


async def read_rows(conn: asyncpg.Connection | asyncpg.Pool, account_id: str) -> AdvisorRows | None:
    """The account's advisor rows in one query; None for an unknown account."""
    row = await conn.fetchrow(_ROWS, account_id)
    if row is None:
        return None
    invoices = tuple(_invoice(item) for item in orjson.loads(row["invoices"]))
    open_start = row["next_cycle_start"]
    # Once the final invoice is out there is no open cycle; the template still needs a cycle start.
    template_start = open_start or (invoices[-1].period_start if invoices else date.min)
    account = DueAccount(
        account_id,
        row["currency"].strip(),
        row["jurisdiction"],
        row["billing_anchor_day"],
        template_start,
        row["next_cycle_end"] or template_start,
        row["closed_on"],
    )
    return AdvisorRows(
        account=account,
        has_open_cycle=open_start is not None,
        changes=tuple(
            PlanChange(item["plan_id"], datetime.fromisoformat(item["effective_at"]))
            for item in orjson.loads(row["changes"])
        ),
        invoices=invoices,
        grants=tuple(_grant(item) for item in orjson.loads(row["grants"])),
        open_usage=tuple(_usage(account_id, item) for item in orjson.loads(row["usage"])),
    )


@dataclass(frozen=True)
class Advised:
    advice: PlanAdvice
    so_far: CycleSoFar | None  # the open cycle's input, usage so far
    current: PlanStatus  # the plan the cycle advised is on, and a change already scheduled


async def advise_account(
    conn: asyncpg.Connection | asyncpg.Pool,
    catalog: Catalog,
    account_id: str,
    cycles: int,
    as_of: datetime,
    plan_at: datetime | None = None,
) -> Advised | None:
    """The plan advice for the account's last ``cycles`` closed cycles and its open cycle at ``as_of``, with the
    open cycle's input (what it would bill if it closed now); None when the account is unknown or has neither
    (nothing to compare). The current plan is the one in force at ``plan_at`` (the event-time clock; default
    ``as_of``), or at the open cycle's last instant once that has passed."""
    rows = await read_rows(conn, account_id)
    plans = await plan_history(conn, account_id)
    if rows is None or plans is None:
        return None
    calendar = inputs.PlanCalendar(catalog)
    closed = billed_cycles(calendar, rows, cycles)
    so_far = open_cycle(calendar, rows, as_of)
    if not closed and so_far is None:
        return None
    current = plans.status(_within_open_cycle(rows, plan_at or as_of))
    return Advised(advise_plans(catalog, closed, so_far, current.plan_id, as_of), so_far, current)


def _within_open_cycle(rows: AdvisorRows, at: datetime) -> datetime:
    # Past the open cycle's end (its grace period, before the closer took it) the cycle advised is still that one.
    if not rows.has_open_cycle:
        return at
    last_instant = datetime.combine(rows.account.cycle_end, time.min, UTC) - timedelta(microseconds=1)
    return min(at, last_instant)


def open_cycle_summary(advised: Advised) -> dict[str, Any] | None:
    """The open cycle so far (as if it closed now) and its total at the current pace on the plan it is on."""
    so_far = advised.so_far
    if so_far is None:
        return None
    current = next((option for option in advised.advice.options if option.is_current), None)
    cycle = so_far.invoice.cycle
    return {
        "cycle_start": cycle.start.isoformat(),
        "cycle_end": cycle.end.isoformat(),
        "elapsed_days": so_far.elapsed_days,
        "cycle_days": cycle.days,
        "currency": so_far.invoice.currency,
        "so_far_minor": build_invoice(so_far.invoice).total_minor,  # the whole fee, the usage so far, tax
        "forecast_minor": current.forecast_minor if current else None,
    }


def best_saving(advised: Advised) -> dict[str, Any] | None:
    """The cheapest plan and what it would have saved; None when the plan the account is on is the cheapest.
    ``scheduled``: a change to it is already scheduled (nothing left for the agent to do)."""
    advice = advised.advice
    cheapest = next((option for option in advice.options if option.plan_id == advice.cheapest_plan_id), None)
    if cheapest is None or cheapest.is_current or advice.best_saving_minor <= 0:
        return None
    pending = advised.current.pending
    return {
        "plan_id": cheapest.plan_id,
        "saving_minor": advice.best_saving_minor,
        "currency": advice.currency,
        "scheduled": pending is not None and pending.plan_id == cheapest.plan_id,
    }


def _invoice(item: dict[str, Any]) -> StoredInvoice:
    return StoredInvoice(
        invoice_id=item["invoice_id"],
        period_start=date.fromisoformat(item["period_start"]),
        period_end=date.fromisoformat(item["period_end"]),
        status=item["status"],
        total_minor=int(item["total_minor"]),
        issued_at=datetime.fromisoformat(item["issued_at"]) if item["issued_at"] else None,
        lines=tuple(item["lines"]),
    )


def _grant(item: dict[str, Any]) -> StoredGrant:
    applications = tuple((invoice_id, int(amount)) for invoice_id, amount in item["applied"])
    row = GrantRow(
        grant_id=item["grant_id"],
        kind=item["kind"],
        percent_bp=item["percent_bp"],
        invoice_count=item["invoice_count"],
        amount_minor=item["amount_minor"],
        currency=item["currency"].strip() if item["currency"] else None,
        granted_at=datetime.fromisoformat(item["granted_at"]),
        applied_minor=sum(amount for _, amount in applications),
        applied_count=len(applications),
    )
    return StoredGrant(row, applications)


def _usage(account_id: str, item: dict[str, Any]) -> UsageRow:
    return UsageRow(
        None,
        account_id,
        date.fromisoformat(item["cycle_start"]),
        item["plan_id"],
        int(item["plan_version"]),
        item["service"],
        int(item["billable_units"]),
        int(item["billed_units"]),
    )
