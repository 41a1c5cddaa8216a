"""The record published on the dead-letter topic for a message we refused.

Not an envelope event: it must be producible even when the original bytes
are not JSON at all, so it carries them verbatim as base64.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from schemas.base import FrozenModel, UtcDatetime

MAX_REASON = 2000


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


class DeadLetter(FrozenModel):
    dead_letter_id: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    source_topic: TopicName
    source_partition: Offset
    source_offset: Offset
    reason: Annotated[str, StringConstraints(max_length=MAX_REASON)]
    error_kind: DeadLetterErrorKind
    original_key_b64: Base64Text | None = None
    # A tombstone (None value) is stored as "": replays treat both as empty.
    original_value_b64: Base64Text
    failed_at: UtcDatetime

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
    ) -> DeadLetter:
        """Wrap a refused message. Never fails on a long reason: the dead-letter
        path is the last resort, so the reason is truncated instead."""
        return cls(
            # Derived from the position so a retried dead-letter write is
            # recognisable as the same record (idempotent replays).
            dead_letter_id=f"{source_topic}:{partition}:{offset}",
            source_topic=source_topic,
            source_partition=partition,
            source_offset=offset,
            reason=_truncate(reason, MAX_REASON),
            error_kind=error_kind,
            original_key_b64=None if key is None else _b64(key),
            original_value_b64=_b64(value or b""),
            failed_at=failed_at,
        )

    def original_value(self) -> bytes:
        return base64.b64decode(self.original_value_b64, validate=True)

    def original_key(self) -> bytes | None:
        if self.original_key_b64 is None:
            return None
        return base64.b64decode(self.original_key_b64, validate=True)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _truncate(message: str, limit: int) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"
