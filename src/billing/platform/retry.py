"""Which failures are the infrastructure's (wait and try again) and which are the message's (dead-letter it).

A database restart or a broker hiccup must never turn a good event into a dead letter, and a bad event must
never block its partition: the first kind is retried forever with capped backoff, the second is set aside.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NotLeaderForPartitionError

T = TypeVar("T")

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NotLeaderForPartitionError,
)


def is_transient(error: BaseException) -> bool:
    # asyncpg files a protocol violation (08P01, e.g. a NUL byte in a statement's text) under connection errors,
    # but waiting never cures it: retried, it would stall its partition for ever.
    return isinstance(error, TRANSIENT_ERRORS) and not isinstance(error, asyncpg.ProtocolViolationError)


# What PostgreSQL refuses because of a value (SQLSTATE class 22: a NUL byte in text, a number out of range; class
# 23: a check constraint), and what asyncpg refuses while encoding one (a lone surrogate, an int beyond 64 bits).
DATA_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.ProtocolViolationError,
    ValueError,
    OverflowError,
)


def caused_by_data(error: BaseException) -> bool:
    """A failure one record's values can cause: that record is set aside, not retried and not its whole batch."""
    return isinstance(error, DATA_ERRORS)


async def retry_transient(
    operation: Callable[[], Awaitable[T]],
    on_retry: Callable[[BaseException, int], None],
    first_delay: float = 0.1,
    max_delay: float = 5.0,
) -> T:
    """Run `operation` until it succeeds or fails with a non-transient error (which is raised)."""
    attempt = 0
    delay = first_delay
    while True:
        try:
            return await operation()
        except TRANSIENT_ERRORS as error:
            if not is_transient(error):
                raise
            attempt += 1
            on_retry(error, attempt)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
