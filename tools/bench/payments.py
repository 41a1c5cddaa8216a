"""`python -m tools.bench.payments`: payments applied per second by one worker (issue 13; goal 10,000/s).

On the embedded broker and PostgreSQL: A accounts with three open invoices of 100.00 EUR each are put in the
ledger, then P `payment.received.v1` records (keyed by account) are applied by one of three paths (`--path`):
- worker (the default, what the goal is about): the P records are published on `billing.payments.v1`, then one
  worker process (`billing worker`) starts and applies them as in production: its payments consumer fetches,
  decodes, applies a batch per lane and commits the offsets (tools/bench/payments_worker.py). Timed from the
  first stored payment to the last; also the worker's and PostgreSQL's CPU per payment, which do not depend
  on what else the machine is doing;
- batch: the same apply step in this process, without the broker (src/billing/collections/payment_consumer.py):
  up to BATCH_MAX records at a time, split into C lanes by partition, each lane one transaction, the lanes at once;
- record (the per-record projection the batches replaced): raw bytes decoded, the event id claimed, the payment
  handler, one transaction per record, by C concurrent tasks.
Every path ends with the same check: P payments stored and the balances equal to the invoices less the payments.
`allocation_per_second`, the pure allocation of a ledger (rules/allocation.py) in the same run, shows how busy the
machine was. Writes the run under its path in tools/bench/payments_results.json (the other paths' last runs kept).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg

from billing.collections.payment_consumer import BATCH_MAX, apply_lane
from billing.collections.projection import on_invoice_issued, payment_handlers
from billing.collections.rules.allocation import allocate
from billing.collections.rules.dunning import DEFAULT_POLICY, parse_policy
from billing.collections.rules.ledger import Entry, EntryKind
from billing.contracts import dump_event
from billing.contracts import envelope as ev
from billing.contracts.invoices import InvoiceIssued, InvoiceLine, InvoiceLineKind
from billing.contracts.money import Money
from billing.contracts.payments import PaymentMethod, PaymentReceived
from billing.entrypoints.stack.launcher import Launcher
from billing.platform.decoding import RawMessage, Rejection, decode
from billing.platform.runtime import tune_gc
from billing.platform.settings import Settings, load_settings
from billing.platform.store import claim_event
from billing.platform.topics import PAYMENTS
from billing.platform.unit_of_work import unit_of_work
from tools.bench.payments_worker import worker_rate

GOAL_PER_SECOND = 10_000
RESULTS = Path(__file__).with_name("payments_results.json")
START = datetime(2027, 1, 1, tzinfo=UTC)


def _invoice(account: str, n: int) -> ev.InvoiceIssuedEvent:
    issued = START + timedelta(days=30 * n)
    line = InvoiceLine(line_id="fee", kind=InvoiceLineKind.RECURRING, description="Plan", amount_minor=10_000)
    return ev.InvoiceIssuedEvent(
        event_id=f"bench-inv-{account}-{n}", source="bench", occurred_at=issued, schema_version=1,
        type="invoice.issued.v1",
        payload=InvoiceIssued(
            account_id=account, invoice_id=f"{account}-{n}", invoice_number=f"B-{account}-{n}"[:32],
            period_start=(issued - timedelta(days=30)).date(), period_end=issued.date(), issued_at=issued,
            due_date=issued.date() + timedelta(days=14), currency="EUR", lines=(line,), subtotal_minor=10_000,
            discount_minor=0, tax_minor=0, total_minor=10_000,
        ),
    )  # fmt: skip


def _payment(account: str, n: int, rng: random.Random, partitions: int) -> RawMessage:
    at = START + timedelta(days=rng.randint(1, 90), seconds=n)
    event = ev.PaymentReceivedEvent(
        event_id=f"bench-pay-{n}", source="bench", occurred_at=at, schema_version=1, type="payment.received.v1",
        payload=PaymentReceived(
            account_id=account, payment_id=f"bench-pay-{n}", amount=Money(amount_minor=rng.randint(500, 4_000),
            currency="EUR"), method=PaymentMethod.CARD, provider_reference=f"ref-{n}", received_at=at,
        ),
    )  # fmt: skip
    return RawMessage(PAYMENTS.name, int(account[-6:]) % partitions, n, account.encode(), dump_event(event))


async def _setup(pool: asyncpg.Pool, accounts: list[str]) -> None:
    await pool.executemany(
        "INSERT INTO accounts (account_id, plan_id, billing_anchor_day, currency, jurisdiction, contact, status,"
        " opened_at) VALUES ($1, 'mobile-s', 1, 'EUR', 'DE', '{}', 'active', $2)",
        [(a, START - timedelta(days=400)) for a in accounts],
    )
    for account in accounts:
        async with unit_of_work(pool) as conn:
            for n in range(3):
                await on_invoice_issued(conn, _invoice(account, n))


async def _apply_batches(pool: asyncpg.Pool, messages: list[RawMessage], lanes: int) -> float:
    policy = parse_policy(DEFAULT_POLICY)
    started = time.perf_counter()
    for start in range(0, len(messages), BATCH_MAX):
        split: list[list[RawMessage]] = [[] for _ in range(lanes)]
        for message in messages[start : start + BATCH_MAX]:
            split[message.partition % lanes].append(message)
        results = await asyncio.gather(*(apply_lane(pool, policy, lane) for lane in split if lane))
        assert all(r is not None and not r.dead for r in results), results
    return time.perf_counter() - started


async def _apply_all(pool: asyncpg.Pool, messages: list[RawMessage], concurrency: int) -> float:
    handlers = payment_handlers(parse_policy(DEFAULT_POLICY))
    queue: asyncio.Queue[RawMessage] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)

    async def serve() -> None:
        while not queue.empty():
            message = queue.get_nowait()
            event = decode(message, PAYMENTS)
            assert not isinstance(event, Rejection), event
            async with unit_of_work(pool) as conn:
                if await claim_event(conn, event.event_id, event.type, message):
                    await handlers[event.type](conn, event)

    started = time.perf_counter()
    await asyncio.gather(*(serve() for _ in range(concurrency)))
    return time.perf_counter() - started


def _allocation_rate(entries_per_account: int, rounds: int) -> float:
    rng = random.Random(7)
    entries = [
        Entry(f"invoice:i{n}", EntryKind.INVOICE, 10_000, START + timedelta(days=30 * n), invoice_id=f"i{n}",
              due_date=date(2027, 1, 15) + timedelta(days=30 * n))
        for n in range(3)
    ] + [
        Entry(f"payment:p{n}", EntryKind.PAYMENT, rng.randint(500, 4_000), START + timedelta(days=n), payment_id=f"p{n}")
        for n in range(entries_per_account - 3)
    ]  # fmt: skip
    started = time.perf_counter()
    for _ in range(rounds):
        allocate(entries)
    return rounds / (time.perf_counter() - started)


async def _measure(launcher: Launcher, settings: Settings, args: argparse.Namespace) -> dict[str, object]:
    dsn = settings.require_database_url()
    pool = await asyncpg.create_pool(dsn, min_size=args.concurrency, max_size=args.concurrency)
    try:
        names = [f"bench-acc-{n:06d}" for n in range(args.accounts)]
        await _setup(pool, names)
        rng = random.Random(13)
        partitions = PAYMENTS.partitions(settings)
        messages = [_payment(rng.choice(names), n, rng, partitions) for n in range(args.payments)]
        tune_gc()  # as the worker does at start-up (src/billing/entrypoints/worker/run.py)
        if args.path == "worker":
            figures = await worker_rate(launcher, dsn, settings.require_bootstrap(), messages)
        else:
            apply = _apply_batches if args.path == "batch" else _apply_all
            seconds = await apply(pool, messages, args.concurrency)
            figures = {"seconds": round(seconds, 3), "applied_per_second": round(args.payments / seconds, 1)}
        applied = await pool.fetchval("SELECT count(*) FROM payments")
        balance = await pool.fetchval("SELECT sum(balance_minor) FROM account_collections")
        paid = sum(json.loads(m.value or b"{}")["payload"]["amount"]["amount_minor"] for m in messages)
        assert applied == args.payments and balance == args.accounts * 30_000 - paid, (applied, balance)
    finally:
        await pool.close()
    return {"applied": applied, **figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=5_000)
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8, help="lanes, or records in flight (record path)")
    parser.add_argument("--path", choices=("worker", "batch", "record"), default="worker")
    args = parser.parse_args(argv)
    state = Path(tempfile.mkdtemp(prefix="billing-bench-payments-", dir="/tmp"))
    try:
        with Launcher(load_settings(state_dir=state), any_ports=True) as launcher:
            settings = launcher.start(workers=0)
            figures = asyncio.run(_measure(launcher, settings, args))
    finally:
        shutil.rmtree(state, ignore_errors=True)
    run = {
        "accounts": args.accounts,
        "payments": args.payments,
        "concurrency": args.concurrency,
        **figures,
        "allocation_per_second": round(_allocation_rate(12, 20_000), 1),
        "goal_met": figures["applied_per_second"] >= GOAL_PER_SECOND,  # type: ignore[operator]
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": _cpus()},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    result = {
        "benchmark": "payments applied per second, one worker's apply path (decode, claims, effects, commit)",
        "goal_per_second": GOAL_PER_SECOND,
        "paths": {**previous.get("paths", {}), args.path: run},
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(run, indent=2))
    return 0


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    raise SystemExit(main())
