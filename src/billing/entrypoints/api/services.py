"""What the API's routes share: settings, the database pool (opened on first use, never at import), the clock,
and the notification relay (started with the server, or by the first code sent)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from billing.entrypoints.api.metrics import ApiMetrics
from billing.identity.notifications import NotificationRelay, sender_for
from billing.identity.rules.lockout import LockoutPolicy
from billing.identity.rules.roles import Role, parse_role_queues
from billing.identity.rules.secrets import CodeSeal
from billing.invoicing.loop import event_time_clock
from billing.platform.context import LazyPool
from billing.platform.settings import Settings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class ApiServices:
    def __init__(self, settings: Settings, clock: Clock = utc_now) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = ApiMetrics()
        self.role_queues = parse_role_queues(settings.agent_role_queues)  # a bad mapping fails at start-up
        self.lockout = LockoutPolicy(
            max_failures=settings.verify_max_failures, lock_for=timedelta(seconds=settings.verify_lockout_s)
        )
        # Basis points, as the retention arms take it: 0.10 -> 1000.
        self.holdout_share_bp = round(settings.retention_holdout_share * 10_000)
        self._pool = LazyPool(settings)
        key = settings.notification_key
        self.code_seal = CodeSeal(key.get_secret_value() if key is not None else None)
        self.notifications = NotificationRelay(self.pool, self.code_seal, sender_for(settings), clock)

    async def event_now(self, conn: asyncpg.Connection | asyncpg.Pool) -> datetime:
        """The event-time clock billing and dunning run on (the slowest usage partition's latest usage time); the
        API's clock before any usage has set it. What the account is on "now" is judged by it, as billing does."""
        return await event_time_clock(conn) or self.clock()

    def queues_for(self, role: Role) -> tuple[str, ...]:
        return self.role_queues[role]

    async def pool(self) -> asyncpg.Pool:
        return await self._pool.get()

    async def database_answers(self) -> bool:
        return await self._pool.answers()

    async def close(self) -> None:
        await self.notifications.stop()
        await self._pool.close()
