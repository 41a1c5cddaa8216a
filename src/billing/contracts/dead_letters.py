"""The record published on the dead-letter topic for a message we refused.

Not an envelope event: it must be producible even when the original bytes
are not JSON at all, so it carries them verbatim as base64 - up to a bound.
A refused message can be nearly as large as the broker accepts, and base64
adds a third: the letter carries an excerpt of the first VALUE_EXCERPT_MAX
bytes, the whole value's size and SHA-256, and the id of its `dead_letters`
row in PostgreSQL, which keeps the whole original. So every letter fits.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from billing.contracts.base import FrozenModel, UtcDatetime

MAX_REASON = 2000
# A letter is at most about 90 KiB of JSON: 64 KiB of value excerpt as base64, a 1 KiB key excerpt, the reason.
# Far below any broker's message limit (1 MiB by default), and enough to read any sane event whole.
VALUE_EXCERPT_MAX = 64 * 1024
KEY_EXCERPT_MAX = 1024


class DeadLetterErrorKind(StrEnum):
    UNDECODABLE = "undecodable"
    INVALID = "invalid"
    WRONG_TOPIC = "wrong_topic"
    REJECTED = "rejected"
    FAILED = "failed"


def _is_base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError("must be standard base64") from None
    return value


Base64Text = Annotated[str, AfterValidator(_is_base64)]
# Kafka caps topic names at 249 characters.
TopicName = Annotated[str, StringConstraints(min_length=1, max_length=249)]
Offset = Annotated[int, Field(strict=True, ge=0)]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class DeadLetter(FrozenModel):
    """A message the system could not decode, validate or apply, with its reason, original bytes and position."""

    dead_letter_id: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    source_topic: TopicName
    source_partition: Offset
    source_offset: Offset
    reason: Annotated[str, StringConstraints(max_length=MAX_REASON)]
    error_kind: DeadLetterErrorKind
    original_key_b64: Base64Text | None = None  # the first KEY_EXCERPT_MAX bytes of the key
    # A tombstone (None value) is stored as "": replays treat both as empty. The first VALUE_EXCERPT_MAX bytes.
    original_value_b64: Base64Text
    failed_at: UtcDatetime
    # Letters written before these fields existed lack them (None): their key and value are whole.
    original_value_size: Offset | None = None  # bytes of the whole original value
    original_value_sha256: Sha256Hex | None = None  # of the whole original value
    truncated: bool = False  # the key or value above is an excerpt; the whole record is in PostgreSQL
    stored_id: Offset | None = None  # its row in the dead_letters table (`SELECT * FROM dead_letters WHERE id = ...`)

    @classmethod
    def from_raw(
        cls,
        source_topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        reason: str,
        error_kind: DeadLetterErrorKind,
        failed_at: datetime,
        stored_id: int | None = None,
    ) -> DeadLetter:
        """Wrap a refused message. Never fails on a long reason or a large
        message: the dead-letter path is the last resort, so the reason is
        truncated and the key and value are cut to excerpts instead."""
        value = value or b""
        return cls(
            # Derived from the position so a retried dead-letter write is
            # recognisable as the same record (idempotent replays).
            dead_letter_id=f"{source_topic}:{partition}:{offset}",
            source_topic=source_topic,
            source_partition=partition,
            source_offset=offset,
            reason=_truncate(reason, MAX_REASON),
            error_kind=error_kind,
            original_key_b64=None if key is None else _b64(key[:KEY_EXCERPT_MAX]),
            original_value_b64=_b64(value[:VALUE_EXCERPT_MAX]),
            failed_at=failed_at,
            original_value_size=len(value),
            original_value_sha256=hashlib.sha256(value).hexdigest(),
            truncated=len(value) > VALUE_EXCERPT_MAX or (key is not None and len(key) > KEY_EXCERPT_MAX),
            stored_id=stored_id,
        )

    def original_value(self) -> bytes:
        """The original value, or its first VALUE_EXCERPT_MAX bytes when `truncated`."""
        return base64.b64decode(self.original_value_b64, validate=True)

    def original_key(self) -> bytes | None:
        if self.original_key_b64 is None:
            return None
        return base64.b64decode(self.original_key_b64, validate=True)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _truncate(message: str, limit: int) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"
