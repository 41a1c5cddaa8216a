"""Turn a raw Kafka record into a validated event, or into the reason it must be dead-lettered.

Pure: no I/O. The workers read values as raw bytes (never through a framework serializer) so that a record
that fails here still has its original bytes and position when it reaches the dead-letter topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from pydantic import ValidationError

from schemas import Event, explain, parse_event
from streams.topics import TopicSpec


class ErrorKind(StrEnum):
    UNDECODABLE = "undecodable"  # not JSON at all
    INVALID = "invalid"  # JSON, but not a valid event
    WRONG_TOPIC = "wrong_topic"  # a valid event on a topic that does not carry its type
    REJECTED = "rejected"  # valid, but a business rule refuses it (unknown call, closed account, ...)
    FAILED = "failed"  # a bug while applying it; kept so that the stream goes on and a person can replay it


class RawMessage(NamedTuple):
    """One record as read from a topic. A NamedTuple, not a dataclass: the usage path builds one per record,
    and a frozen dataclass costs several times as much to construct (ops/bench/PROFILE.md)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None

    @property
    def position(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


@dataclass(frozen=True)
class Rejection:
    kind: ErrorKind
    reason: str


def decode(message: RawMessage, spec: TopicSpec) -> Event | Rejection:
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


def _check_key(message: RawMessage, event: Event) -> Rejection | None:
    # Per-account order rests on the key: a record keyed otherwise may be in another partition than the
    # account's other events, so it is refused rather than applied out of order.
    account_id = event.payload.account_id
    if message.key is None or message.key.decode("utf-8", "replace") != account_id:
        shown = None if message.key is None else message.key.decode("utf-8", "replace")[:64]
        return Rejection(ErrorKind.INVALID, f"record key {shown!r} must equal payload.account_id {account_id!r}")
    return None
