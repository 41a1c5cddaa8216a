"""Synthetic traffic for the demo, the tests and the benchmarks: valid events for every topic, and bad ones.

Deterministic for a given seed, so a run can be compared with its expected outcome (the oracle).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import orjson
from aiokafka import AIOKafkaProducer

from billing.contracts import dump_event
from billing.contracts import envelope as ev
from billing.contracts.accounts import AccountOpened, Contact
from billing.contracts.calls import CallAnswered, CallChannel, CallEnded, CallOutcome, CallReason, CallStarted
from billing.contracts.discounts import DiscountGranted, DiscountKind
from billing.contracts.disputes import DisputeOpened, DisputeReason
from billing.contracts.invoices import InvoiceIssued, InvoiceLine, InvoiceLineKind
from billing.contracts.money import Money
from billing.contracts.usage import ServiceKind, UsageRecorded, UsageUnit
from billing.platform.topics import USAGE, topic_for_event_type

_UNITS = {ServiceKind.VOICE: UsageUnit.SECOND, ServiceKind.SMS: UsageUnit.MESSAGE, ServiceKind.DATA: UsageUnit.BYTE}


@dataclass(frozen=True)
class Record:
    """One Kafka record to publish."""

    topic: str
    key: bytes | None
    value: bytes


def record_of(event: ev.Event) -> Record:
    return Record(topic_for_event_type(event.type).name, event.payload.account_id.encode(), dump_event(event))


def _meta(event_id: str, source: str, at: datetime) -> dict[str, object]:
    return {"event_id": event_id, "source": source, "occurred_at": at, "schema_version": 1}


@dataclass
class Population:
    account_ids: list[str]
    start: datetime
    seed: int = 7

    @classmethod
    def of(cls, count: int, start: datetime | None = None, prefix: str = "acc") -> Population:
        when = start or datetime(2026, 11, 1, tzinfo=UTC)
        return cls([f"{prefix}-{i:06d}" for i in range(count)], when)

    def openings(self) -> Iterator[ev.Event]:
        for i, account_id in enumerate(self.account_ids):
            yield ev.AccountOpenedEvent(
                **_meta(f"open-{account_id}", "crm/onboarding", self.start),
                type="account.opened.v1",
                payload=AccountOpened(
                    account_id=account_id,
                    plan_id="mobile-s" if i % 3 else "mobile-l",
                    billing_anchor_day=1 + i % 28,
                    currency="EUR",
                    jurisdiction="DE",
                    contact=Contact(name=f"Customer {i}", email=f"c{i}@example.com"),
                    opened_at=self.start,
                ),
            )

    def usage(self, count: int, id_prefix: str = "use") -> Iterator[ev.Event]:
        rng = random.Random(self.seed)
        for n in range(count):
            account_id = rng.choice(self.account_ids)
            service = rng.choice((ServiceKind.VOICE, ServiceKind.SMS, ServiceKind.DATA))
            quantity = {ServiceKind.VOICE: rng.randint(1, 1800), ServiceKind.SMS: 1}.get(
                service, rng.randint(1_000, 50_000_000)
            )
            at = self.start + timedelta(seconds=rng.randint(60, 20 * 86400))
            yield ev.UsageRecordedEvent(
                **_meta(f"{id_prefix}-{n:08d}", "mediation/switch-1", at),
                type="usage.recorded.v1",
                payload=UsageRecorded(
                    account_id=account_id,
                    record_id=f"cdr-{id_prefix}-{n:08d}",
                    service=service,
                    quantity=quantity,
                    unit=_UNITS[service],
                    started_at=at,
                ),
            )

    def workflow(self) -> Iterator[ev.Event]:
        """An invoice, a call (started, answered, ended), a dispute and a discount for every tenth account."""
        for account_id in self.account_ids[::10]:
            yield from _customer_journey(account_id, self.start + timedelta(days=20))


def _customer_journey(account_id: str, at: datetime) -> Iterator[ev.Event]:
    invoice_id = f"inv-{account_id}-2026-11"
    call_id = f"call-{account_id}-1"
    yield ev.InvoiceIssuedEvent(
        **_meta(f"iss-{account_id}", "billing/invoicer", at),
        type="invoice.issued.v1",
        payload=_invoice(account_id, invoice_id, at),
    )
    yield ev.CallStartedEvent(
        **_meta(f"cst-{account_id}", "care/acd", at + timedelta(hours=2)),
        type="call.started.v1",
        payload=CallStarted(
            account_id=account_id,
            call_id=call_id,
            reason=CallReason.BILL_QUESTION,
            channel=CallChannel.PHONE,
            invoice_id=invoice_id,
        ),
    )
    yield ev.CallAnsweredEvent(
        **_meta(f"can-{account_id}", "care/acd", at + timedelta(hours=2, seconds=40)),
        type="call.answered.v1",
        payload=CallAnswered(account_id=account_id, call_id=call_id, agent_id="agent-1"),
    )
    yield ev.DisputeOpenedEvent(
        **_meta(f"dop-{account_id}", "care/desk", at + timedelta(hours=2, minutes=5)),
        type="dispute.opened.v1",
        payload=DisputeOpened(
            account_id=account_id,
            dispute_id=f"dsp-{account_id}",
            invoice_id=invoice_id,
            line_id="usage",
            amount=Money(amount_minor=500, currency="EUR"),
            reason=DisputeReason.INCORRECT_CHARGE,
        ),
    )
    yield ev.DiscountGrantedEvent(
        **_meta(f"dgr-{account_id}", "care/desk", at + timedelta(hours=2, minutes=6)),
        type="discount.granted.v1",
        payload=DiscountGranted(
            account_id=account_id,
            grant_id=f"grt-{account_id}",
            kind=DiscountKind.FIXED_NEXT_INVOICE,
            amount=Money(amount_minor=500, currency="EUR"),
            reason_code="goodwill",
            criteria=("tenure>=12m",),
            granted_by="agent-1",
        ),
    )
    yield ev.CallEndedEvent(
        **_meta(f"cen-{account_id}", "care/acd", at + timedelta(hours=2, minutes=8)),
        type="call.ended.v1",
        payload=CallEnded(account_id=account_id, call_id=call_id, outcome=CallOutcome.RESOLVED),
    )


def _invoice(account_id: str, invoice_id: str, at: datetime) -> InvoiceIssued:
    # 19 % VAT on 1,999 + 500 = 2,499 is 474.81, rounded half-up to 475.
    lines = (
        InvoiceLine(line_id="recurring", kind=InvoiceLineKind.RECURRING, description="Plan fee", amount_minor=1999),
        InvoiceLine(line_id="usage", kind=InvoiceLineKind.USAGE, description="Usage", amount_minor=500),
        InvoiceLine(line_id="tax", kind=InvoiceLineKind.TAX, description="VAT 19%", amount_minor=475),
    )
    return InvoiceIssued(
        account_id=account_id,
        invoice_id=invoice_id,
        invoice_number=f"INV-2026-{zlib.crc32(invoice_id.encode()) % 10**6:06d}",
        period_start=date(2026, 11, 1),
        period_end=date(2026, 12, 1),
        issued_at=at,
        due_date=date(2026, 12, 15),
        currency="EUR",
        lines=lines,
        subtotal_minor=2499,
        discount_minor=0,
        tax_minor=475,
        total_minor=2974,
    )


@dataclass(frozen=True)
class BadRecord:
    record: Record
    expected_kind: str
    why: str


def bad_usage_records(account_id: str) -> list[BadRecord]:
    """One record for each way a producer gets it wrong; each must reach the dead-letter topic once."""
    good = next(Population([account_id], datetime(2026, 11, 1, tzinfo=UTC)).usage(1, id_prefix="bad"))
    body = good.model_dump(mode="json")
    key = account_id.encode()

    def variant(**payload_changes: object) -> bytes:
        return ev_json({**body, "payload": {**body["payload"], **payload_changes}})

    return [
        BadRecord(Record(USAGE.name, key, b"\x00\xffnot json at all"), "undecodable", "garbage bytes"),
        BadRecord(Record(USAGE.name, key, variant(quantity=-5)), "invalid", "negative quantity"),
        BadRecord(Record(USAGE.name, key, variant(quantity=1.5)), "invalid", "float quantity"),
        BadRecord(Record(USAGE.name, key, ev_json({**body, "surprise": 1})), "invalid", "extra field"),
        BadRecord(Record(USAGE.name, b"someone-else", dump_event(good)), "invalid", "key is not the account"),
    ]


def ev_json(value: dict) -> bytes:
    return orjson.dumps(value)


async def publish(bootstrap: str, records: Iterable[Record], on_sent=None) -> int:
    """Publish with acks=all and wait for every acknowledgement; returns how many were sent."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    sent = 0
    try:
        pending = []
        for record in records:
            pending.append(await producer.send(record.topic, record.value, key=record.key))
            sent += 1
            if len(pending) >= 5000:
                await _drain(pending, on_sent)
        await _drain(pending, on_sent)
    finally:
        await producer.stop()
    return sent


async def _drain(pending: list, on_sent) -> None:
    for future in pending:
        await future
    if on_sent:
        on_sent(len(pending))
    pending.clear()
