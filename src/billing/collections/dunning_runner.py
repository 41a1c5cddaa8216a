"""The dunning step runner: every overdue invoice gets the policy's steps due by the event-time clock, once each.

Each account is handled in its own transaction with its collections row locked (SKIP LOCKED: two workers take
different accounts, and an account being projected is taken at the next pass). A step is recorded in
`dunning_steps` (primary key invoice and step) in the transaction that performs it, so it happens exactly once
whatever the number of workers, reruns and redeliveries. A promise to pay pauses the account's steps until its
date has passed. Only invoices still open are looked at: a payment that clears them stops the sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from billing.care.facts import account_facts
from billing.care.lifecycle import NewTask, insert_task, make_task_id
from billing.care.rules.priority import DEFAULT_WEIGHTS, Overdue, PriorityWeights, collections_priority
from billing.care.rules.routing_rules import Route
from billing.collections import events
from billing.collections.readers import mark_overdue
from billing.collections.rules.dunning import (
    DunningPolicy,
    DunningStep,
    Promise,
    StepAction,
    notice_text,
    paused_by_promise,
    steps_due,
)
from billing.collections.rules.overdue import days_overdue
from billing.contracts.money import Money
from billing.invoicing.loop import event_time_clock
from billing.money import to_major_units
from billing.platform.context import WorkerContext
from billing.platform.retry import retry_transient
from billing.platform.unit_of_work import unit_of_work

# The base of a collections call beside the routed calls' (care/rules/priority.py); the account's facts and its
# overdue amount and age add to it (collections_priority).
COLLECTIONS_BASE_PRIORITY = 40


@dataclass
class DunningReport:
    steps: list[tuple[str, str, str]] = field(default_factory=list)  # (account, invoice, step) taken this run
    paused: list[str] = field(default_factory=list)  # accounts paused by a promise to pay


async def run_dunning(
    pool: asyncpg.Pool,
    policy: DunningPolicy,
    as_of: datetime,
    *,
    accounts: list[str] | None = None,
    weights: PriorityWeights = DEFAULT_WEIGHTS,
) -> DunningReport:
    """Take every step due as of `as_of` (event time) on the overdue invoices (of `accounts`, if given)."""
    report = DunningReport()
    candidates = await pool.fetch(
        "SELECT DISTINCT account_id FROM collection_invoices WHERE open_minor > 0"
        " AND due_date + $1::int < ($2::timestamptz AT TIME ZONE 'UTC')::date"
        " AND ($3::text[] IS NULL OR account_id = ANY($3::text[]))",
        policy.grace_days,
        as_of,
        accounts,
    )
    for row in candidates:
        async with unit_of_work(pool) as conn:
            await _account(conn, policy, as_of, row["account_id"], report, weights)
    return report


async def _account(
    conn: asyncpg.Connection,
    policy: DunningPolicy,
    as_of: datetime,
    account_id: str,
    report: DunningReport,
    weights: PriorityWeights,
) -> None:
    locked = await conn.fetchrow(
        "SELECT currency, suspended_at, closed_for_non_payment_at FROM account_collections WHERE account_id = $1"
        " FOR UPDATE SKIP LOCKED",
        account_id,
    )
    if locked is None:
        return  # another worker (or the projection) has it now; the next pass sees it
    await mark_overdue(conn, account_id, policy.grace_days, as_of)
    promises = await conn.fetch(
        "SELECT promised_for, amount_minor, made_at FROM payment_promises WHERE account_id = $1", account_id
    )
    if paused_by_promise([Promise(r["promised_for"], r["amount_minor"], r["made_at"]) for r in promises], as_of):
        report.paused.append(account_id)
        return
    account = await conn.fetchrow("SELECT status, contact FROM accounts WHERE account_id = $1", account_id)
    # Closed for non-payment by an earlier pass: the account projection may not have read account.closed.v1 yet,
    # and another overdue invoice's close step must not close it (and announce it) a second time.
    closed = locked["closed_for_non_payment_at"] is not None
    invoices = await conn.fetch(
        "SELECT invoice_id, invoice_number, currency, open_minor, due_date FROM collection_invoices"
        " WHERE account_id = $1 AND open_minor > 0 ORDER BY due_date, invoice_id",
        account_id,
    )
    ages = [days_overdue(i["due_date"], as_of, policy.grace_days) for i in invoices]
    overdue = Overdue(
        sum(i["open_minor"] for i, days in zip(invoices, ages, strict=True) if days), max(ages, default=0)
    )
    suspended = locked["suspended_at"] is not None
    for invoice in invoices:
        days = days_overdue(invoice["due_date"], as_of, policy.grace_days)
        done = [
            r["step"]
            for r in await conn.fetch("SELECT step FROM dunning_steps WHERE invoice_id = $1", invoice["invoice_id"])
        ]
        for step in steps_due(policy, days, done):
            taken = await conn.fetchval(
                "INSERT INTO dunning_steps (invoice_id, step, account_id, action, at) VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT DO NOTHING RETURNING true",
                invoice["invoice_id"],
                step.name,
                account_id,
                step.action.value,
                as_of,
            )
            if not taken:
                continue
            report.steps.append((account_id, invoice["invoice_id"], step.name))
            active = account is not None and account["status"] == "active" and not closed
            if step.action is StepAction.NOTICE:
                await _notice(conn, account, account_id, step, invoice, days)
            elif step.action is StepAction.TASK and active:
                await _task(conn, policy, account_id, step, invoice, as_of, overdue, weights)
            elif step.action is StepAction.SUSPEND and active and not suspended:
                currency = invoice["currency"].strip()
                await conn.execute(
                    "UPDATE account_collections SET suspended_at = $2, suspended_for = $3 WHERE account_id = $1",
                    account_id,
                    as_of,
                    invoice["invoice_id"],
                )
                owed = Money(amount_minor=overdue.amount_minor, currency=currency)
                await events.suspended(conn, account_id, invoice["invoice_id"], owed, as_of)
                suspended = True
            elif step.action is StepAction.CLOSE and active:
                await conn.execute(
                    "UPDATE account_collections SET closed_for_non_payment_at = $2 WHERE account_id = $1",
                    account_id,
                    as_of,
                )
                await events.closed_for_non_payment(conn, account_id, invoice["invoice_id"], as_of)
                account = None  # closed: no later step of this pass acts on it


async def _notice(conn, account, account_id: str, step: DunningStep, invoice, days: int) -> None:
    contact = (account["contact"] if account else None) or {}
    if isinstance(contact, str):  # a pool without the workers' jsonb codec (the CLI's, a test's)
        contact = json.loads(contact)
    channel, destination = ("email", contact.get("email")) if contact.get("email") else ("sms", contact.get("phone"))
    if not destination:
        return  # nowhere to send it: the step is recorded, the collections call will reach the customer
    currency = invoice["currency"].strip()
    open_text = f"{to_major_units(invoice['open_minor'], currency)} {currency}"
    body = notice_text(step, invoice["invoice_number"] or invoice["invoice_id"], open_text, days)
    await conn.execute(
        "INSERT INTO notifications (account_id, channel, destination, body, kind) VALUES ($1, $2, $3, $4, 'dunning')",
        account_id,
        channel,
        destination,
        body,
    )


async def _task(
    conn,
    policy: DunningPolicy,
    account_id: str,
    step: DunningStep,
    invoice,
    as_of: datetime,
    overdue: Overdue,
    weights: PriorityWeights,
) -> None:
    source = f"dunning:{invoice['invoice_id']}:{step.name}"
    known = await account_facts(conn, account_id, as_of, invoice_id=invoice["invoice_id"])
    route = Route(policy.queue, COLLECTIONS_BASE_PRIORITY, step.name)
    points = collections_priority(route, known.facts, overdue, 0, weights)
    await insert_task(
        conn,
        NewTask(
            task_id=make_task_id("collections", source),
            kind="collections",
            source_event_id=source[:128],
            account_id=account_id,
            reason="overdue",
            rule=step.name,
            queue=policy.queue,
            tier=1,
            static_priority=points,
            priority=points,
            routed_at=as_of,
            invoice_id=invoice["invoice_id"],
            currency=invoice["currency"].strip(),
        ),
    )


class DunningLoop:
    """Every worker's loop: dunning as of the event-time clock (the cycle closer's), every CLOSER_INTERVAL_S."""

    def __init__(self, ctx: WorkerContext, policy: DunningPolicy, weights: PriorityWeights = DEFAULT_WEIGHTS) -> None:
        self.ctx, self.policy, self.weights = ctx, policy, weights
        self.log = ctx.log.bind(path="dunning")

    async def run(self, stopping: asyncio.Event) -> None:
        if not self.ctx.settings.closer_enabled:
            # The same switch as the closer's: with the event-time clock off, dunning runs only on request.
            self.log.info("dunning disabled with the cycle closer (CLOSER_ENABLED=false)")
            await stopping.wait()
            return
        while not stopping.is_set():
            report = await retry_transient(self.once, self._on_retry)
            if report is not None and report.steps:
                self.ctx.outbox_signal.set()
                self.log.info("dunning steps taken", steps=len(report.steps), first=report.steps[:5])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self.ctx.settings.closer_interval_s)

    async def once(self) -> DunningReport | None:
        pool = await self.ctx.pool()
        clock = await event_time_clock(pool)
        return None if clock is None else await run_dunning(pool, self.policy, clock, weights=self.weights)

    def _on_retry(self, error: BaseException, attempt: int) -> None:
        self.log.warning("dunning retrying", error=repr(error), attempt=attempt)
