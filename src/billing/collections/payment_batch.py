"""Payment events applied a batch per transaction: the set-based twin of the per-record payment projection.

In the caller's transaction: the collections rows of the batch's accounts are locked (created if new, in account
order, so two batches or a batch and the invoice projection never deadlock), what the rules need is read in a few
statements, the events are decided in memory one after another (src/billing/collections/payment_plan.py), and
the outcome is written in a few statements: event-id claims, payment rows, ledger entries, reversed amounts, the
standing of each touched account allocated once from its whole ledger, restorations with their events in the
outbox, dead letters with their reason and position. The same keys guard it as the per-record path: the event
id (`processed_events`) and the document ids (`payments.payment_id`, `ledger_entries.entry_id`). If any of them
was written by another transaction meanwhile (two workers on one partition during a rebalance), `KeyTaken` is
raised: the caller rolls back and applies the batch record by record, which settles each event as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from billing.collections import events
from billing.collections.payment_plan import LEDGER_TYPES, REVERSALS, KnownPayment, Loaded, PaymentPlan
from billing.collections.rules.allocation import allocate
from billing.collections.rules.dunning import DunningPolicy
from billing.collections.rules.ledger import KIND_OF, Entry, entry_key
from billing.collections.store import invoice_rows
from billing.contracts import Event
from billing.platform.decoding import ErrorKind, RawMessage, Rejection
from billing.platform.records import Rejected
from billing.platform.store import record_dead_letters


class KeyTaken(Exception):
    """Another transaction wrote one of this batch's keys after the batch read them."""


@dataclass
class BatchResult:
    applied: list[Event] = field(default_factory=list)
    duplicates: int = 0
    dead: list[tuple[RawMessage, Rejection]] = field(default_factory=list)
    restored: int = 0


async def apply_payments(
    conn: asyncpg.Connection, policy: DunningPolicy, items: Sequence[tuple[RawMessage, Event | Rejection]]
) -> BatchResult:
    """Apply the batch in the caller's transaction; records keep their order (a partition's offsets ascending)."""
    decoded = [(m, e) for m, e in items if not isinstance(e, Rejection)]
    plan = PaymentPlan(await _load(conn, [e for _, e in decoded]), policy)
    rejections: list[tuple[RawMessage, Rejection]] = []
    for message, event in items:
        if isinstance(event, Rejection):
            rejections.append((message, event))
            continue
        try:
            plan.take(message, event)
        except Rejected as refusal:
            rejections.append((message, Rejection(ErrorKind.REJECTED, refusal.reason)))
        except Exception as error:  # noqa: BLE001 - a bug in one record must not stop its partition
            rejections.append((message, Rejection(ErrorKind.FAILED, repr(error))))
    await _write(conn, plan)
    dead = await record_dead_letters(conn, rejections) if rejections else []
    # A dead letter stored before (a replay) is a duplicate, as in the per-record path.
    duplicates = plan.duplicates + len(rejections) - len(dead)
    return BatchResult(plan.applied, duplicates, dead, len(plan.restorations))


async def _load(conn: asyncpg.Connection, batch: list[Event]) -> Loaded:
    account_ids = sorted({e.payload.account_id for e in batch})
    accounts = {
        r["account_id"]: (r["status"], r["currency"].strip())
        for r in await conn.fetch(
            "SELECT account_id, status, currency FROM accounts WHERE account_id = ANY($1::text[])", account_ids
        )
    }
    # The accounts a ledger event may reach get their collections row (created with the account's currency, as
    # store.lock_account does) and lock it, in account order; a row created for an account none reaches is removed.
    ledger_accounts = sorted(
        {
            e.payload.account_id
            for e in batch
            if e.type in LEDGER_TYPES
            and e.payload.account_id in accounts
            and accounts[e.payload.account_id][1] == e.payload.amount.currency
        }
    )
    created = await conn.fetch(
        "INSERT INTO account_collections (account_id, currency) SELECT * FROM unnest($1::text[], $2::text[])"
        " ORDER BY 1 ON CONFLICT DO NOTHING RETURNING account_id",
        ledger_accounts,
        [accounts[a][1] for a in ledger_accounts],
    )
    locked = await conn.fetch(
        "SELECT account_id, suspended_at FROM account_collections WHERE account_id = ANY($1::text[])"
        " ORDER BY account_id FOR UPDATE",
        ledger_accounts,
    )
    claimed = await conn.fetch(
        "SELECT event_id FROM processed_events WHERE event_id = ANY($1::text[])", [e.event_id for e in batch]
    )
    payments = await conn.fetch(
        "SELECT payment_id, account_id, status, amount_minor, currency, method, provider_reference, at, invoice_id,"
        " reversed_minor FROM payments WHERE payment_id = ANY($1::text[])",
        list({e.payload.payment_id for e in batch}),
    )
    reversal_ids = [
        entry_key(
            REVERSALS[e.type], e.payload.refund_id if e.type == "payment.refunded.v1" else e.payload.chargeback_id
        )
        for e in batch
        if e.type in REVERSALS
    ]
    reversals = (
        await conn.fetch(
            "SELECT entry_id, payment_id, amount_minor FROM ledger_entries WHERE entry_id = ANY($1::text[])",
            reversal_ids,
        )
        if reversal_ids
        else []
    )
    ledgers: dict[str, list[Entry]] = {r["account_id"]: [] for r in locked}
    numbers: dict[str | None, str | None] = {}
    for r in await conn.fetch(
        "SELECT account_id, entry_id, kind, amount_minor, at, invoice_id, payment_id, due_date, document"
        " FROM ledger_entries WHERE account_id = ANY($1::text[])",
        list(ledgers),
    ):
        ledgers[r["account_id"]].append(_entry(r))
        if r["kind"] == "invoice":
            numbers[r["invoice_id"]] = r["document"]
    loaded = Loaded(
        accounts=accounts,
        suspended={r["account_id"]: r["suspended_at"] is not None for r in locked},
        claimed={r["event_id"] for r in claimed},
        payments={r["payment_id"]: _known_payment(r) for r in payments},
        reversal_entries={r["entry_id"]: (r["payment_id"], r["amount_minor"]) for r in reversals},
        ledgers=ledgers,
        numbers=numbers,
    )
    loaded.created_rows = {r["account_id"] for r in created}
    return loaded


def _entry(r: asyncpg.Record) -> Entry:
    return Entry(r[1], KIND_OF[r[2]], r[3], r[4], r[5], r[6], r[7])  # the ledger query's columns after account_id


def _known_payment(r: asyncpg.Record) -> KnownPayment:
    values = (r["payment_id"], r["account_id"], r["status"], r["amount_minor"], r["currency"].strip(), r["method"])
    return KnownPayment((*values, r["provider_reference"], r["at"], r["invoice_id"]), r["reversed_minor"])


async def _write(conn: asyncpg.Connection, plan: PaymentPlan) -> None:
    if plan.claims:
        claimed = await conn.fetch(
            'INSERT INTO processed_events (event_id, event_type, source_topic, partition, "offset")'
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[])"
            " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            *zip(*plan.claims, strict=True),
        )
        _all_taken(len(claimed), len(plan.claims), "event id")
    if plan.new_payments:
        inserted = await conn.fetch(
            "INSERT INTO payments (payment_id, account_id, status, amount_minor, currency, method, provider_reference,"
            " at, invoice_id, reason) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[],"
            " $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::text[], $10::text[])"
            " ON CONFLICT (payment_id) DO NOTHING RETURNING payment_id",
            *zip(*plan.new_payments, strict=True),
        )
        _all_taken(len(inserted), len(plan.new_payments), "payment id")
    if plan.new_entries:
        rows = [
            (e.entry_id, a, e.kind.value, e.amount_minor, c, e.at, e.invoice_id, e.payment_id, e.due_date, d)
            for a, c, e, d in plan.new_entries
        ]
        inserted = await conn.fetch(
            "INSERT INTO ledger_entries (entry_id, account_id, kind, amount_minor, currency, at, invoice_id,"
            " payment_id, due_date, document) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[],"
            " $5::text[], $6::timestamptz[], $7::text[], $8::text[], $9::date[], $10::text[])"
            " ON CONFLICT (entry_id) DO NOTHING RETURNING entry_id",
            *zip(*rows, strict=True),
        )
        _all_taken(len(inserted), len(rows), "ledger entry")
    if plan.reversed_minor:
        await conn.execute(
            "UPDATE payments p SET reversed_minor = p.reversed_minor + r.amount"
            " FROM unnest($1::text[], $2::bigint[]) AS r (payment_id, amount) WHERE p.payment_id = r.payment_id",
            list(plan.reversed_minor),
            list(plan.reversed_minor.values()),
        )
    await _recompute(conn, plan)
    for account_id, payment_id, at in plan.restorations:
        await conn.execute(
            "UPDATE account_collections SET suspended_at = NULL, suspended_for = NULL WHERE account_id = $1",
            account_id,
        )
        await events.restored(conn, account_id, payment_id, at)
    unused = sorted(plan.loaded.created_rows - plan.kept_rows)
    if unused:
        await conn.execute("DELETE FROM account_collections WHERE account_id = ANY($1::text[])", unused)


async def _recompute(conn: asyncpg.Connection, plan: PaymentPlan) -> None:
    """store.recompute for every touched account at once: the whole ledger allocated, standing written over."""
    if not plan.touched:
        return
    accounts = sorted(plan.touched)
    numbers = plan.loaded.numbers  # the batch adds no invoice: the numbers read with the ledgers
    invoices: list[tuple[object, ...]] = []
    standings: list[tuple[str, int, int, int]] = []
    for account_id in accounts:
        allocation = allocate(plan.loaded.ledgers[account_id])
        currency = plan.touched[account_id]
        invoices += invoice_rows(account_id, currency, allocation, numbers)
        standings.append((account_id, allocation.balance_minor, allocation.open_minor, allocation.credit_minor))
    if invoices:
        await conn.execute(
            "INSERT INTO collection_invoices (invoice_id, account_id, invoice_number, currency, total_minor,"
            " credited_minor, paid_minor, open_minor, due_date, issued_at) SELECT * FROM unnest($1::text[],"
            " $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::date[],"
            " $10::timestamptz[]) ORDER BY 1 ON CONFLICT (invoice_id) DO UPDATE SET"
            " credited_minor = EXCLUDED.credited_minor, paid_minor = EXCLUDED.paid_minor, open_minor = EXCLUDED.open_minor",
            *zip(*invoices, strict=True),
        )
    await conn.execute(
        "UPDATE account_collections c SET balance_minor = s.balance, open_minor = s.open, credit_minor = s.credit,"
        " updated_at = now() FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])"
        " AS s (account_id, balance, open, credit) WHERE c.account_id = s.account_id",
        *zip(*standings, strict=True),
    )


def _all_taken(written: int, expected: int, key: str) -> None:
    if written != expected:
        raise KeyTaken(f"{expected - written} {key}(s) of the batch were written by another transaction meanwhile")
