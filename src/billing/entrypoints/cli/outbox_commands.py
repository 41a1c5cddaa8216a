"""`billing outbox replay --since TIME [--topic T]`: re-publish the outbox from a point in time.

For a broker that lost events it had acknowledged (the embedded broker loses everything when it restarts; the
workers log "the broker lost events the outbox had published" with the time to give here and /health says
degraded) and for rows parked because the broker refused them. Talks to PostgreSQL only: the workers' outbox
relay does the publishing (src/billing/platform/outbox_replay.py).
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime

import asyncpg
import click

from billing.entrypoints.cli.billing_commands import _settings
from billing.platform.outbox_replay import Requeued, progress, requeue
from billing.platform.topics import spec_for

_POLL_S = 1.0


@click.group()
def outbox() -> None:
    """The transactional outbox: events written with their effects, published by the workers."""


@outbox.command("replay")
@click.option(
    "--since",
    "since_text",
    required=True,
    metavar="TIME",
    help="ISO 8601 date or time (UTC unless it names a zone), e.g. 2026-12-02T10:00:00Z.",
)
@click.option("--topic", default=None, help="Only this topic's rows (default: every topic).")
@click.option(
    "--wait",
    "wait_s",
    default=120.0,
    show_default=True,
    help="Give up watching after this many seconds without progress (the rows stay queued).",
)
def replay(since_text: str, topic: str | None, wait_s: float) -> None:
    """Re-publish every outbox row written or published since TIME. Consumers skip the events they already have
    (by event id), so replaying more than was lost is safe; the workers' relay sends the rows in their order."""
    since = _parse_since(since_text)
    if topic is not None and spec_for(topic) is None:
        _fail(f"unknown topic {topic!r}: give one this system publishes to, e.g. billing.invoice-issued.v1.")
    settings = _settings()

    async def run() -> None:
        conn = await asyncpg.connect(settings.require_database_url())
        try:
            async with conn.transaction():
                queued = await requeue(conn, since, topic)
            _say_queued(queued, since, topic)
            if queued.ids:
                await _watch(conn, queued.ids, wait_s)
        finally:
            await conn.close()

    try:
        asyncio.run(run())
    except (OSError, asyncpg.PostgresError) as error:
        _fail(f"PostgreSQL at DATABASE_URL cannot be used ({error}): is the stack up (`billing up`)?")


def _parse_since(text: str) -> datetime:
    try:
        since = datetime.fromisoformat(text.strip())
    except ValueError:
        _fail(f"--since {text!r} is not a date or time: give ISO 8601, e.g. 2026-12-02 or 2026-12-02T10:00:00Z.")
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    if since > datetime.now(UTC):
        _fail(f"--since {text} is in the future: nothing was written after it (times are UTC unless they name a zone).")
    return since


def _say_queued(queued: Requeued, since: datetime, topic: str | None) -> None:
    what = f"of {topic}" if topic else "of every topic"
    click.echo(f"re-queued {len(queued.ids):,} outbox rows {what} written or published since {since.isoformat()}")
    if queued.oldest_kept is None or queued.oldest_kept > since:
        kept = queued.oldest_kept.isoformat(timespec="seconds") if queued.oldest_kept else "now"
        click.echo(f"  note: the outbox keeps published rows a day; nothing before {kept} is left to re-publish")
    if queued.resolved:
        click.echo(f"  {queued.resolved} broker data loss(es) covered: /health returns to ok")
    for lost_topic, lost_since in queued.still_lost:
        click.echo(
            f"  still open: {lost_topic} lost events since {lost_since.isoformat() if lost_since else '?'};"
            " replay from there to cover it"
        )


async def _watch(conn: asyncpg.Connection, ids: list[int], wait_s: float) -> None:
    started = last_change = time.monotonic()
    shown = (-1, -1)
    while True:
        published, parked = await progress(conn, ids)
        if (published, parked) != shown:
            shown, last_change = (published, parked), time.monotonic()
            click.echo(f"  re-published {published:,} of {len(ids):,}" + (f", {parked:,} parked" if parked else ""))
        if published + parked == len(ids):
            break
        if time.monotonic() - last_change > wait_s:
            _fail(
                f"{len(ids) - published - parked:,} rows still wait after {wait_s:.0f} s without progress: they"
                " stay queued and the workers' outbox relay sends them once it runs (`billing up`)."
            )
        await asyncio.sleep(_POLL_S)
    elapsed = time.monotonic() - started
    click.echo(
        f"done: {published:,} events re-published in {elapsed:.1f} s"
        + (f"; {parked:,} parked again (the broker still refuses them)" if parked else "")
    )


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(2)


def register(main: click.Group) -> None:
    main.add_command(outbox)
