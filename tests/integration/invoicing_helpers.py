"""The building blocks of the invoicing scenarios on the real stack: the events of an account's month, publishing
and waiting until the workers stored them, closing the cycle for given accounts, reading an invoice back, finding
events on a topic, and checking that an invoice series has no gaps."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from billing.contracts import envelope as ev
from billing.contracts.accounts import AccountOpened, AccountPlanChanged, Contact
from billing.contracts.usage import ServiceKind, UsageRecorded, UsageUnit
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.invoicing.closer import close_due_cycles
from billing.invoicing.rules.catalog import demo_catalog
from billing.platform.settings import Settings
from tests.integration.helpers import eventually, fetch, fetchval, unique

UNIT = {ServiceKind.VOICE: UsageUnit.SECOND, ServiceKind.SMS: UsageUnit.MESSAGE, ServiceKind.DATA: UsageUnit.BYTE}


def nov(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def opened(account: str, plan: str, currency: str, jurisdiction: str, at: datetime) -> ev.AccountOpenedEvent:
    return ev.AccountOpenedEvent(
        event_id=unique("open"),
        source="test/crm",
        occurred_at=at,
        schema_version=1,
        type="account.opened.v1",
        payload=AccountOpened(
            account_id=account,
            plan_id=plan,
            billing_anchor_day=1,
            currency=currency,
            jurisdiction=jurisdiction,
            contact=Contact(name="Test Customer"),
            opened_at=at,
        ),
    )


def plan_changed(account: str, plan: str, at: datetime) -> ev.AccountPlanChangedEvent:
    return ev.AccountPlanChangedEvent(
        event_id=unique("chg"),
        source="test/crm",
        occurred_at=at,
        schema_version=1,
        type="account.plan_changed.v1",
        payload=AccountPlanChanged(account_id=account, plan_id=plan, effective_at=at),
    )


def used(account: str, service: ServiceKind, quantity: int, at: datetime) -> ev.UsageRecordedEvent:
    return ev.UsageRecordedEvent(
        event_id=unique("u"),
        source="test/switch",
        occurred_at=at,
        schema_version=1,
        type="usage.recorded.v1",
        payload=UsageRecorded(
            account_id=account,
            record_id=unique("cdr"),
            service=service,
            quantity=quantity,
            unit=UNIT[service],
            started_at=at,
        ),
    )


async def publish_and_wait(live: Settings, accounts_events: list, usage: list) -> None:
    """Account events first and applied, then usage: usage is rated under the plan in force when it is stored."""
    dsn = live.require_database_url()
    await publish(live.require_bootstrap(), [record_of(e) for e in accounts_events])
    # The projection's own rows, not processed_events: other consumers of the topic claim event ids there too.
    opened_ids = [e.payload.account_id for e in accounts_events if e.type == "account.opened.v1"]
    change_ids = [e.event_id for e in accounts_events if e.type == "account.plan_changed.v1"]
    await eventually(
        lambda: fetchval(
            dsn,
            "SELECT (SELECT count(*) FROM accounts WHERE account_id = ANY($1))"
            " + (SELECT count(*) FROM account_plan_changes WHERE event_id = ANY($2))",
            opened_ids,
            change_ids,
        ),
        lambda n: n == len(opened_ids) + len(change_ids),
    )
    if usage:
        await publish(live.require_bootstrap(), [record_of(e) for e in usage])
        usage_ids = [e.event_id for e in usage]
        await eventually(
            lambda: fetchval(dsn, "SELECT count(*) FROM usage_events WHERE event_id = ANY($1)", usage_ids),
            lambda n: n == len(usage_ids),
        )


async def close_for(live: Settings, accounts: list[str], as_of: datetime):
    pool = await asyncpg.create_pool(live.require_database_url(), min_size=1, max_size=2)
    try:
        return await close_due_cycles(pool, demo_catalog(), live, as_of, accounts=accounts)
    finally:
        await pool.close()


async def invoice_of(live: Settings, account: str, period_start: date) -> asyncpg.Record:
    rows = await fetch(
        live.require_database_url(),
        "SELECT *, lines::text AS lines_json FROM invoices WHERE account_id = $1 AND period_start = $2",
        account,
        period_start,
    )
    assert len(rows) == 1, f"one invoice for {account} from {period_start}, found {len(rows)}"
    return rows[0]


def amounts(invoice: asyncpg.Record) -> dict[str, tuple[int, int | None]]:
    return {line["line_id"]: (line["amount_minor"], line["quantity"]) for line in orjson.loads(invoice["lines_json"])}


async def find_on_topic(live: Settings, topic: str, wanted: set[str], timeout_s: float = 30) -> dict[str, dict]:
    """Events whose event_id is in ``wanted``, read from the start of ``topic`` (no consumer group).

    They leave through the outbox, so first wait until the relay has published them. The relay publishes in
    table order and holds every later row while one send waits: the first send to a topic the broker does not
    have yet (a new queue's topic) waits out the producer's 40 s request timeout. In a whole-suite session
    such a stall can fall on these events; waiting for the outbox row separates "late" from "lost".
    """
    await wait_published(live.require_database_url(), topic, wanted)
    consumer = AIOKafkaConsumer(bootstrap_servers=live.require_bootstrap(), enable_auto_commit=False, group_id=None)
    await consumer.start()
    found: dict[str, dict] = {}
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        assert partitions, f"the broker has no partitions of {topic}"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        while wanted - found.keys() and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    event = orjson.loads(record.value)
                    if event.get("event_id") in wanted:
                        found[event["event_id"]] = event
    finally:
        await consumer.stop()
    assert found.keys() == wanted, f"published by the outbox but not on {topic}: {sorted(wanted - found.keys())}"
    return found


async def wait_published(dsn: str, topic: str, event_ids: set[str], timeout_s: float = 120) -> None:
    """Until the outbox rows of these events are marked published (sent and acknowledged by the broker)."""
    patterns = [f"%{event_id}%".encode() for event_id in event_ids]

    async def published() -> set[str]:
        rows = await fetch(
            dsn,
            "SELECT value FROM outbox WHERE topic = $1 AND published_at IS NOT NULL AND value LIKE ANY($2::bytea[])",
            topic,
            patterns,
        )
        return {orjson.loads(row["value"]).get("event_id") for row in rows} & event_ids

    await eventually(published, lambda done: done == event_ids, timeout_s=timeout_s)


async def series_numbers(live: Settings, prefix: str) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Sequence numbers per series-year of invoices numbered ``prefix-YYYY-NNNNNN``, and each counter's next_seq.

    One REPEATABLE READ snapshot for both: a worker issuing between two separate reads would make a sound
    series look broken (the counter and its invoice commit together, so one snapshot sees both or neither)."""
    conn = await asyncpg.connect(live.require_database_url())
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            numbers = await conn.fetch(
                "SELECT invoice_number FROM invoices WHERE starts_with(invoice_number, $1)", prefix + "-"
            )
            counters = await conn.fetch(
                "SELECT series, next_seq FROM invoice_series WHERE series ~ ('^' || $1 || '-[0-9]{4}$')",
                re.escape(prefix),
            )
    finally:
        await conn.close()
    by_series: dict[str, list[int]] = {}
    for row in numbers:
        series, year, seq = row["invoice_number"].rsplit("-", 2)
        if series == prefix:
            by_series.setdefault(f"{series}-{year}", []).append(int(seq))
    return {k: sorted(v) for k, v in by_series.items()}, {r["series"]: r["next_seq"] for r in counters}


async def assert_gap_free(live: Settings, prefix: str) -> None:
    """Every number of every year of the series, 1..N with no gap and no repeat, and the counter right after."""
    by_series, next_seq = await series_numbers(live, prefix)
    for series, seqs in by_series.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"{series} has gaps or repeats"
    assert next_seq == {series: len(seqs) + 1 for series, seqs in by_series.items()}
