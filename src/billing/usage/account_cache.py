"""Account views kept across usage batches, refreshed from what changed in PostgreSQL since the last read.

With many accounts, nearly every record of a batch belongs to an account the batch has not seen, so reading
the account views for every batch was most of the database's work per event (tools/bench/PROFILE.md). The
cache keeps them, and before each use asks which accounts changed since its previous read.

Why nothing stale survives: each read first notes the snapshot horizon, the oldest transaction still running
(``pg_snapshot_xmin``). Every change that read could not see was made by a transaction at or after that
horizon, and every account change stamps ``accounts.changed_xid`` with its transaction (migration 0009's
triggers, plan changes included). The next read evicts the accounts with ``changed_xid`` at or after the
noted horizon before it uses anything, so a change is either seen by a read or evicted by the next one.
Taking the horizon before the other statements keeps this true without a repeatable-read transaction: a
later snapshot only sees more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import asyncpg

from billing.usage.rules.rating import AccountView
from billing.usage.store import load_accounts


class AccountCache:
    def __init__(self, max_entries: int = 250_000) -> None:
        self.max_entries = max_entries
        self._views: dict[str, AccountView] = {}
        self._horizon: str | None = None  # xid8 as text: asyncpg has no codec for it
        self._lock = asyncio.Lock()  # one refresh at a time, or an older read could re-add what a newer evicted
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._views)

    async def views(self, conn: asyncpg.Connection, account_ids: Iterable[str]) -> dict[str, AccountView]:
        """The views of those accounts that exist; accounts not known yet are simply absent."""
        wanted = set(account_ids)
        async with self._lock:
            horizon = await conn.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
            await self._evict_changed(conn)
            missing = [a for a in wanted if a not in self._views]
            if len(self._views) + len(missing) > self.max_entries:
                self._views.clear()  # rare, and cheaper than tracking recency on every hit
                missing = list(wanted)
            self.misses += len(missing)
            self.hits += len(wanted) - len(missing)
            self._views.update(await load_accounts(conn, missing) if missing else {})
            self._horizon = horizon
            return {a: view for a in wanted if (view := self._views.get(a)) is not None}

    async def _evict_changed(self, conn: asyncpg.Connection) -> None:
        if self._horizon is None:
            self._views.clear()
            return
        changed = await conn.fetch("SELECT account_id FROM accounts WHERE changed_xid >= $1::text::xid8", self._horizon)
        for row in changed:
            self._views.pop(row["account_id"], None)
