"""Canonical usage.recorded.v1 bytes for the benchmark, built with orjson directly.

Building a pydantic event costs about 30 µs, so a million of them would take longer than consuming them; these
bytes have exactly the shape `billing.usage.fast_decode.fast_usage` accepts and `billing.contracts.parse_event` validates
(tests/unit/test_bench_report.py checks both, and the benchmark checks a sample of every run). Deterministic for
a seed. The latency events carry their publish time (µs since the epoch) in their event id.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import orjson

USAGE_TYPE = "usage.recorded.v1"
SOURCE = "mediation/switch-1"
_SERVICES = ("voice", "sms", "data")
_UNIT_OF = {"voice": "second", "sms": "message", "data": "byte"}
LATENCY_PREFIX = "lat"


def iso_utc(epoch_s: int) -> str:
    """`2026-10-05T12:34:56Z` for whole seconds since the epoch (the canonical form fast_usage accepts)."""
    days, rest = divmod(epoch_s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{_day(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}Z"


_DAYS: dict[int, str] = {}


def _day(days_since_epoch: int) -> str:
    text = _DAYS.get(days_since_epoch)
    if text is None:
        text = _DAYS[days_since_epoch] = (date(1970, 1, 1) + timedelta(days=days_since_epoch)).isoformat()
    return text


def usage_value(
    event_id: str,
    account_id: str,
    record_id: str,
    service: str,
    quantity: int,
    started_s: int,
    occurred_s: int,
    msisdn: str | None = None,
    destination: str | None = None,
) -> bytes:
    payload: dict[str, object] = {
        "account_id": account_id,
        "record_id": record_id,
        "service": service,
        "quantity": quantity,
        "unit": _UNIT_OF[service],
        "started_at": iso_utc(started_s),
    }
    if msisdn is not None:
        payload["msisdn"] = msisdn
    if destination is not None:
        payload["destination"] = destination
    return orjson.dumps(
        {
            "event_id": event_id,
            "type": USAGE_TYPE,
            "source": SOURCE,
            "occurred_at": iso_utc(occurred_s),
            "schema_version": 1,
            "payload": payload,
        }
    )


def account_ids(count: int, prefix: str = "acc") -> list[str]:
    return [f"{prefix}-{i:06d}" for i in range(count)]


@dataclass
class UsageGenerator:
    """Random but deterministic usage for `accounts`, started inside [period_start, period_end)."""

    accounts: Sequence[str]
    period_start: datetime
    period_end: datetime
    seed: int = 7

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._start_s = int(self.period_start.astimezone(UTC).timestamp())
        # Leave two hours at the end so started_at + duration stays inside the period.
        self._span_s = int((self.period_end - self.period_start).total_seconds()) - 7200

    def one(self, event_id: str, record_id: str) -> tuple[bytes, bytes]:
        """(key, value) of one event."""
        rng = self._rng
        index = rng.randrange(len(self.accounts))
        account_id = self.accounts[index]
        service = _SERVICES[rng.randrange(3)]
        started = self._start_s + rng.randrange(60, self._span_s)
        msisdn = f"49151{index:07d}"
        if service == "voice":
            quantity = rng.randint(1, 1800)
            destination: str | None = f"+4930{rng.randrange(10**7):07d}"
        elif service == "sms":
            quantity, destination = 1, f"+49151{rng.randrange(10**7):07d}"
        else:
            quantity, destination = rng.randint(1_000, 50_000_000), None
        occurred = started + (quantity if service == "voice" else 1) + 5
        value = usage_value(event_id, account_id, record_id, service, quantity, started, occurred, msisdn, destination)
        return account_id.encode(), value

    def stream(self, count: int, id_prefix: str, first: int = 0) -> Iterator[tuple[bytes, bytes]]:
        for n in range(first, first + count):
            yield self.one(f"{id_prefix}-{n:08d}", f"cdr-{id_prefix}-{n:08d}")


def latency_event_id(seq: int, published_us: int) -> str:
    """An event id that carries the moment it was handed to the producer (µs since the epoch, wall clock)."""
    return f"{LATENCY_PREFIX}-{seq:08d}-{published_us}"


def published_us_of(event_id: str) -> int:
    prefix, _seq, published = event_id.split("-")
    if prefix != LATENCY_PREFIX:
        raise ValueError(f"not a latency event id: {event_id!r}")
    return int(published)
