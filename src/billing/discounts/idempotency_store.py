"""Idempotency keys in PostgreSQL, in the transaction of the action they protect (pure rule: idempotency.py).

The key row is inserted first: a concurrent request with the same key waits on the unique index until the first
commits, then finds its stored response. If the action fails, its key goes with the rolled-back transaction,
so a retry runs the action again.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg

from billing.discounts.rules.idempotency import KeyConflict, Replay, compare, request_hash
from billing.platform.unit_of_work import one_row

Response = tuple[int, dict[str, Any]]  # HTTP status and body


class IdempotencyConflict(Exception):
    pass


async def run_once(
    conn: asyncpg.Connection,
    agent_id: str,
    key: str,
    action: str,
    body: Mapping[str, Any],
    perform: Callable[[], Awaitable[Response]],
) -> tuple[Response, bool]:
    """(response, replayed): the stored response for a repeated key, else ``perform()``'s, stored."""
    digest = request_hash(action, body)
    claimed = await conn.fetchval(
        "INSERT INTO idempotency_keys (agent_id, key, action, request_hash) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING RETURNING true",
        agent_id,
        key,
        action,
        digest,
    )
    if not claimed:
        row = await one_row(
            conn, "SELECT request_hash, response FROM idempotency_keys WHERE agent_id = $1 AND key = $2", agent_id, key
        )
        stored = None if row["response"] is None else json.loads(row["response"])
        outcome = compare(key, row["request_hash"], stored, digest)
        if isinstance(outcome, KeyConflict):
            raise IdempotencyConflict(outcome.reason)
        assert isinstance(outcome, Replay)
        return (outcome.response["status"], outcome.response["body"]), True
    status, response_body = await perform()
    await conn.execute(
        "UPDATE idempotency_keys SET response = $3 WHERE agent_id = $1 AND key = $2",
        agent_id,
        key,
        json.dumps({"status": status, "body": response_body}, default=str),
    )
    return (status, response_body), False
