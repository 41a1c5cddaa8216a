"""Delivering notifications (one-time codes) to customers: the delivery channels and the relay that feeds them.

A `notifications` row holds the message with a slot for the code and the code sealed (billing.identity.rules.secrets.CodeSeal). The
relay runs in the API process, which made the codes and holds the key: it takes one pending row at a time with
`FOR UPDATE SKIP LOCKED`, opens the code, hands the message to the channel, and in the same transaction marks the
row sent and clears the sealed code. Two relays (two API processes) never send one row at the same time; a crash
between the hand-over and the commit sends it again, so a channel should drop repeats by `notification_id`.
A code whose time ran out is not sent any more, and its sealed copy is cleared whichever process made it.

Channels: `WebhookSender` POSTs each message as JSON to NOTIFICATION_WEBHOOK_URL (the SMS and e-mail gateway);
without one, `FileSender` appends JSON lines to NOTIFICATION_FILE (development and tests read the codes there).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import asyncpg
import httpx
from cryptography.fernet import InvalidToken

from billing.identity.rules.secrets import CodeSeal
from billing.platform.logs import get_logger
from billing.platform.settings import Settings
from billing.platform.unit_of_work import unit_of_work

CODE_SLOT = "{code}"  # where the code goes in a stored message
POLL_S = 1.0  # how often pending rows are looked for when nothing wakes the relay (a new code does)
log = get_logger("billing.api.notifications")


@dataclass(frozen=True)
class OutgoingMessage:
    notification_id: int
    channel: str  # sms | email
    destination: str
    body: str  # the code is in it: this exists only on its way out


class NotificationSender(Protocol):
    async def send(self, message: OutgoingMessage) -> None:
        """Hand the message over, or raise (it stays pending and is tried again)."""

    async def close(self) -> None: ...


class FileSender:
    """Development channel: one JSON line per message, in a file only its owner may read."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def send(self, message: OutgoingMessage) -> None:
        await asyncio.to_thread(self._append, (json.dumps(asdict(message)) + "\n").encode())

    def _append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)  # one write of an O_APPEND file: lines of two processes never interleave
        finally:
            os.close(fd)

    async def close(self) -> None:
        return None


class WebhookSender:
    """The gateway's webhook: a 2xx answer means it took the message."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def send(self, message: OutgoingMessage) -> None:
        response = await self._client.post(self.url, json=asdict(message))
        response.raise_for_status()

    async def close(self) -> None:
        await self._client.aclose()


def sender_for(settings: Settings) -> NotificationSender:
    if settings.notification_webhook_url:
        return WebhookSender(settings.notification_webhook_url)
    return FileSender(settings.notification_file or settings.state_dir / "notifications.jsonl")


class NotificationRelay:
    def __init__(
        self,
        pool: Callable[[], Awaitable[asyncpg.Pool]],
        seal: CodeSeal,
        sender: NotificationSender,
        clock: Callable[[], datetime],
        poll_s: float = POLL_S,
    ) -> None:
        self._pool, self._seal, self._sender, self._clock, self._poll_s = pool, seal, sender, clock, poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        """A new message is waiting: deliver now rather than at the next poll (starts the relay if needed)."""
        self.start()
        self._wake.set()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="notification-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._sender.close()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.deliver_pending()
            except Exception as exc:  # noqa: BLE001 - the database may be away; the loop must outlive it
                log.warning("notifications not delivered; retrying", error=repr(exc))
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that arrives as the wake-up
            # does, and stop() would then wait for ever on this task.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await self._wake.wait()

    async def deliver_pending(self) -> int:
        """Deliver what this relay's key can open; returns how many were handed to the channel."""
        pool = await self._pool()
        await pool.execute(
            "UPDATE notifications SET status = 'expired', sealed_code = NULL WHERE status = 'pending'"
            " AND expires_at <= $1",
            self._clock(),
        )
        delivered = 0
        while (outcome := await self._deliver_one(pool)) is not None:
            delivered += outcome
        return delivered

    async def _deliver_one(self, pool: asyncpg.Pool) -> int | None:
        """1 sent, 0 dropped (cannot be opened), None when nothing is left or the channel failed."""
        now = self._clock()
        async with unit_of_work(pool) as conn:
            row = await conn.fetchrow(
                "SELECT notification_id, channel, destination, body, sealed_code FROM notifications"
                " WHERE status = 'pending' AND key_id = $1 AND expires_at > $2"
                " ORDER BY notification_id LIMIT 1 FOR UPDATE SKIP LOCKED",
                self._seal.key_id,
                now,
            )
            if row is None:
                return None
            notification_id = row["notification_id"]
            try:
                code = self._seal.open(row["sealed_code"])
            except (InvalidToken, TypeError):
                log.error("notification cannot be opened; dropped", notification_id=notification_id)
                await _close(conn, notification_id, "expired", None)
                return 0
            message = OutgoingMessage(
                notification_id, row["channel"], row["destination"], row["body"].replace(CODE_SLOT, code)
            )
            try:
                await self._sender.send(message)
            except Exception as exc:  # noqa: BLE001 - any failure of the channel leaves the row pending
                await conn.execute(
                    "UPDATE notifications SET attempts = attempts + 1 WHERE notification_id = $1", notification_id
                )
                log.warning(
                    "notification not delivered; it stays pending", notification_id=notification_id, error=repr(exc)
                )
                return None
            await _close(conn, notification_id, "sent", now)
            return 1


async def _close(conn: asyncpg.Connection, notification_id: int, status: str, sent_at: datetime | None) -> None:
    await conn.execute(
        "UPDATE notifications SET status = $2, sent_at = $3, sealed_code = NULL, attempts = attempts + 1"
        " WHERE notification_id = $1",
        notification_id,
        status,
        sent_at,
    )
