"""The writes every processor shares: idempotency keys, dead letters and the outbox.

Each function takes a connection that is already inside a transaction, so that the caller's effect, its
idempotency key and the events it emits commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import asyncpg

from billing.contracts import DeadLetter, DeadLetterErrorKind
from billing.platform.decoding import RawMessage, Rejection
from billing.platform.topics import DEAD_LETTERS


async def claim_event(conn: asyncpg.Connection, event_id: str, event_type: str, message: RawMessage) -> bool:
    """Record that this event is being applied; False if it was applied before (a redelivery or a duplicate)."""
    row = await conn.fetchrow(
        'INSERT INTO processed_events (event_id, event_type, source_topic, partition, "offset")'
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        event_id,
        event_type,
        message.topic,
        message.partition,
        message.offset,
    )
    return row is not None


async def enqueue(conn: asyncpg.Connection, topic: str, key: bytes | None, value: bytes) -> None:
    await conn.execute("INSERT INTO outbox (topic, key, value) VALUES ($1, $2, $3)", topic, key, value)


async def record_dead_letters(
    conn: asyncpg.Connection, items: Sequence[tuple[RawMessage, Rejection]]
) -> list[tuple[RawMessage, Rejection]]:
    """Store each bad record once (by source position) and queue it for the dead-letter topic.

    Returns the ones that were new, so that a redelivered bad record is neither stored nor published twice. The
    row keeps the whole original; the published letter carries an excerpt and the row's id (src/billing/contracts/dead_letters.py).
    """
    new: list[tuple[RawMessage, Rejection]] = []
    for message, refused in items:
        # A reason may quote the input (a field name, say): it must be storable text even when the input is not.
        rejection = Rejection(refused.kind, storable_text(refused.reason))
        row = await conn.fetchrow(
            'INSERT INTO dead_letters (source_topic, partition, "offset", error_kind, reason, original_key,'
            " original_value) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ' ON CONFLICT (source_topic, partition, "offset") DO NOTHING RETURNING id',
            message.topic,
            message.partition,
            message.offset,
            str(rejection.kind),
            rejection.reason,
            message.key,
            message.value or b"",
        )
        if row is not None:
            letter = dead_letter_bytes(message, rejection, row["id"])
            await enqueue(conn, DEAD_LETTERS.name, message.position.encode(), letter)
            new.append((message, rejection))
    return new


def storable_text(text: str) -> str:
    """``text`` with what PostgreSQL's text cannot hold (NUL) and UTF-8 cannot encode (lone surrogates) escaped."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def dead_letter_bytes(message: RawMessage, rejection: Rejection, stored_id: int | None = None) -> bytes:
    letter = DeadLetter.from_raw(
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value or b"",
        reason=rejection.reason[:2000],
        error_kind=DeadLetterErrorKind(rejection.kind),  # the same values: the decoder's kinds are the letter's
        failed_at=datetime.now(UTC),
        stored_id=stored_id,
    )
    return letter.model_dump_json().encode()


async def count_rows(conn: asyncpg.Connection, tables: Iterable[str]) -> dict[str, int]:
    """Row counts for the demo and the CLI summary (table names come from code, never from input)."""
    return {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in tables}
