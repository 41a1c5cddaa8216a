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

import asyncpg

Database = asyncpg.Pool | asyncpg.Connection


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(db, asyncpg.Connection):
        async with db.transaction():
            yield db
        return
    async with db.acquire() as conn, conn.transaction():
        yield conn


@asynccontextmanager
async def connection(db: Database) -> AsyncIterator[asyncpg.Connection]:
    """A connection without a transaction (reads, or a caller's own several transactions): the caller's
    connection itself, or one acquired from the pool for the block."""
    if isinstance(db, asyncpg.Connection):
        yield db
        return
    async with db.acquire() as conn:
        yield conn
