"""The worker's cycle-close loop: every CLOSER_INTERVAL_S, close what the event-time clock says is due.

The clock is the slowest usage partition's latest event time (min over usage_watermarks), not the wall
clock: a cycle must not close while a lagging partition may still hold its usage, and a replay of old
traffic closes the old cycles as they complete. Every worker runs the loop; SKIP LOCKED splits the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime

from billing.invoicing.catalog_config import load_catalog
from billing.invoicing.closer import close_due_cycles
from billing.invoicing.rules.catalog import Catalog
from billing.invoicing.rules.close_model import CloseReport
from billing.platform.context import WorkerContext
from billing.platform.retry import retry_transient
from billing.platform.unit_of_work import Database


async def event_time_clock(db: Database) -> datetime | None:
    """min(max_started_at) over the usage partitions seen so far; None before any usage arrived."""
    return await db.fetchval("SELECT min(max_started_at) FROM usage_watermarks")


# A refused cycle (its data cannot make an invoice, e.g. no plan version in force) is a permanent input problem:
# retrying it every pass only repeats the error. It is retried this often, in case a plan change fixed it.
REFUSED_RETRY_S = 3600.0


class CycleCloser:
    def __init__(self, ctx: WorkerContext, catalog: Catalog | None = None) -> None:
        self.ctx = ctx
        self.catalog = catalog or load_catalog(ctx.settings)
        self.log = ctx.log.bind(path="cycle-closer")
        self.refused: dict[str, str] = {}  # account id -> why its cycle could not be closed
        self._refused_since = time.monotonic()

    async def run(self, stopping: asyncio.Event) -> None:
        if not self.ctx.settings.closer_enabled:
            self.log.info("cycle closer disabled (CLOSER_ENABLED=false): cycles close only on request")
            await stopping.wait()  # returning would make the loop service restart us
            return
        while not stopping.is_set():
            report = await retry_transient(self.close_once, self._on_retry)
            if report is not None and report.invoices:
                self.ctx.outbox_signal.set()  # issued and held invoices both left events: wake the relay now
            if report is not None and (report.invoices or report.skipped or report.errors):
                self.log.info(
                    "cycles closed",
                    issued=report.issued,
                    held=report.held,
                    skipped=report.skipped,
                    seconds=round(report.seconds, 3),
                    errors=report.errors[:10],
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self.ctx.settings.closer_interval_s)

    async def close_once(self) -> CloseReport | None:
        pool = await self.ctx.pool()
        clock = await event_time_clock(pool)
        if clock is None:
            return None
        if time.monotonic() - self._refused_since > REFUSED_RETRY_S:
            self.refused.clear()
            self._refused_since = time.monotonic()
        return await close_due_cycles(pool, self.catalog, self.ctx.settings, clock, refused=self.refused)

    def _on_retry(self, error: BaseException, attempt: int) -> None:
        self.log.warning("cycle close retrying", error=repr(error), attempt=attempt)
