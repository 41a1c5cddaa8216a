"""One unit of work: everything a handler, a store function or a route writes commits together or not at all.

`unit_of_work(pool_or_conn)` is the one way to open it:
* given a pool, it acquires a connection and opens a transaction on it (released when the block ends);
* given a connection, it opens a transaction on it, which asyncpg makes a savepoint when the connection is
  already inside one: the caller's outer transaction still decides, and a failure inside the block undoes only
  the block (a refused event leaves neither its key nor half an effect behind).
Store functions take the caller's connection and open no transaction of their own unless they need one; then
they use this, so that they work the same called from a route (own transaction) or from a handler (savepoint).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import asyncpg

# The caller's connection may be one acquired from a pool (asyncpg hands out a proxy of it).
Database = asyncpg.Pool | asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[asyncpg.Connection]:
    # A connection acquired from a pool is a proxy, not an asyncpg.Connection: test for the pool.
    if not isinstance(db, asyncpg.Pool):
        async with db.transaction():
            yield _as_connection(db)
        return
    async with db.acquire() as conn, conn.transaction():
        yield _as_connection(conn)


@asynccontextmanager
async def connection(db: Database) -> AsyncIterator[asyncpg.Connection]:
    """A connection without a transaction (reads, or a caller's own several transactions): the caller's
    connection itself, or one acquired from the pool for the block."""
    if not isinstance(db, asyncpg.Pool):
        yield _as_connection(db)
        return
    async with db.acquire() as conn:
        yield _as_connection(conn)


def _as_connection(conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy) -> asyncpg.Connection:
    """The pool's proxy forwards every method of the connection it wraps; callers see one type."""
    return cast(asyncpg.Connection, conn)


async def one_row(conn: asyncpg.Connection, query: str, *args: object) -> asyncpg.Record:
    """The row of a query that always returns exactly one (an aggregate, a row the same transaction wrote or
    locked): None there is a bug, refused by name rather than met later as a failed subscript."""
    row = await conn.fetchrow(query, *args)
    if row is None:
        raise LookupError(f"expected one row, got none: {query.split(maxsplit=4)[:4]}")
    return row
