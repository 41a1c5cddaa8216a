"""Turn a raw Kafka record into a validated event, or into the reason it must be dead-lettered.

Pure: no I/O. The workers read values as raw bytes (never through a framework serializer) so that a record
that fails here still has its original bytes and position when it reaches the dead-letter topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol

from pydantic import ValidationError

from billing.contracts import Event, explain, parse_event
from billing.platform.topics import TopicSpec


class ErrorKind(StrEnum):
    UNDECODABLE = "undecodable"  # not JSON at all
    INVALID = "invalid"  # JSON, but not a valid event
    WRONG_TOPIC = "wrong_topic"  # a valid event on a topic that does not carry its type
    REJECTED = "rejected"  # valid, but a business rule refuses it (unknown call, closed account, ...)
    FAILED = "failed"  # a bug while applying it; kept so that the stream goes on and a person can replay it


class Record(Protocol):
    """What is read of a consumed record. aiokafka's ConsumerRecord fits, so the usage path keeps the records
    it fetched and builds a RawMessage only for the few it sets aside (tools/bench/PROFILE.md)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class RawMessage(NamedTuple):
    """One record as read from a topic. A NamedTuple, not a dataclass: cheap to build, and comparable."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None

    @property
    def position(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @classmethod
    def of(cls, record: Record) -> RawMessage:
        if isinstance(record, RawMessage):
            return record
        return cls(
            record.topic, record.partition, record.offset, record.key, record.value, getattr(record, "timestamp", None)
        )


@dataclass(frozen=True)
class Rejection:
    kind: ErrorKind
    reason: str


def decode(message: Record, spec: TopicSpec) -> Event | Rejection:
    if not message.value:
        return Rejection(ErrorKind.UNDECODABLE, "empty message value (a tombstone is not an event)")
    try:
        event = parse_event(message.value)
    except ValidationError as error:
        return _classify(error)
    if not spec.accepts(event.type):
        return Rejection(ErrorKind.WRONG_TOPIC, f"event type {event.type} does not belong on topic {spec.name}")
    return _check_key(message, event) or event


def _classify(error: ValidationError) -> Rejection:
    if any(e["type"] == "json_invalid" for e in error.errors()):
        return Rejection(ErrorKind.UNDECODABLE, f"not valid JSON: {explain(error)}")
    return Rejection(ErrorKind.INVALID, explain(error))


def _check_key(message: Record, event: Event) -> Rejection | None:
    # Per-account order rests on the key: a record keyed otherwise may be in another partition than the
    # account's other events, so it is refused rather than applied out of order.
    account_id = event.payload.account_id
    if message.key is None or message.key.decode("utf-8", "replace") != account_id:
        shown = None if message.key is None else message.key.decode("utf-8", "replace")[:64]
        return Rejection(ErrorKind.INVALID, f"record key {shown!r} must equal payload.account_id {account_id!r}")
    return None
