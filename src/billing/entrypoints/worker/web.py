"""The worker's HTTP endpoint: /health for orchestrators, /metrics for Prometheus, /reports/retention (JSON)."""

from __future__ import annotations

import asyncio

import faust
from faust.web import Request, Response, View

from billing.care import metrics_view
from billing.care.metrics_prometheus import QueueMetricsCollector
from billing.collections.dunning_config import load_policy
from billing.collections.metrics_prometheus import ReceivablesCollector
from billing.collections.receivables import receivables
from billing.entrypoints.worker.followers import live_counts
from billing.invoicing.loop import event_time_clock
from billing.platform.context import WorkerContext
from billing.platform.metrics import CONTENT_TYPE_LATEST
from billing.platform.unit_of_work import connection

_LAG_INTERVAL_S = 5.0


def register(app: faust.App, ctx: WorkerContext) -> None:
    # Per-queue service metrics (billing_queue_*), rendered at scrape time from the merged figures. Registered
    # here, where the worker starts, because the platform's metrics know no context.
    queue_service = QueueMetricsCollector()
    ctx.metrics.registry.register(queue_service)
    # Open receivables, overdue by age band and days sales outstanding (billing_receivables_*, collections).
    receivables_figures = ReceivablesCollector()
    ctx.metrics.registry.register(receivables_figures)

    @app.page("/health", name="health")
    async def health(web: View, request: Request) -> Response:
        # 503 when this worker cannot work (no database, no broker); 200 "degraded" when it works but a person
        # must act: the broker lost events the outbox had published (src/billing/platform/broker_watch.py).
        checks = {"database": await ctx.database_answers(), "kafka": not app.consumer.should_stop}
        status = 200 if all(checks.values()) else 503
        losses = await _open_broker_losses(ctx) if status == 200 else []
        body: dict = {"status": "ok" if status == 200 and not losses else "degraded", "checks": checks}
        if losses:
            checks["broker_data"] = False
            body["broker_data_lost"] = losses
        return web.json(body, status=status)

    @app.page("/queues/metrics", name="queue-metrics")
    async def queue_metrics(web: View, request: Request) -> Response:
        now = metrics_view.utc_now()
        async with connection(await ctx.pool()) as conn:
            figures = await metrics_view.load_figures(conn, ctx.settings, now)
        queue_service.update(figures, ctx.settings.service_level_threshold_s)
        return web.json(metrics_view.as_json(figures, ctx.settings, now))

    @app.page("/metrics", name="metrics")
    async def metrics(web: View, request: Request) -> Response:
        await _refresh_queue_metrics(ctx, queue_service)
        await _refresh_receivables(ctx, receivables_figures)
        response = web.bytes(ctx.metrics.exposition(), content_type=CONTENT_TYPE_LATEST.split(";")[0])
        return response

    @app.page("/reports/retention", name="retention-report")
    async def retention_report(web: View, request: Request) -> Response:
        # Computed from the counters in PostgreSQL, so every worker answers the same (src/billing/retention/rules/report.py);
        # `live_counts` is this worker's share of the Faust table cache (its partitions only, every case).
        # ?cases_from=&cases_to= restrict it to the cases handled in that time (src/billing/retention/queries.py);
        # ?period= is the experiment period reported (default: the latest, the others listed under "periods"); one
        # the system does not know is 404 with the sentence naming the known ones.
        # Imported on the first report: the statistics behind it load scipy, statsmodels and pandas (about 100 MB
        # of the worker's memory), which a worker that is never asked for a report does not need.
        from billing.retention.queries import Cohort, UnknownPeriod
        from billing.retention.queries import retention_report as build_retention_report

        query = request.query
        cohort = None
        if query.get("cases_from") or query.get("cases_to"):
            try:
                cohort = Cohort.parse(query.get("cases_from"), query.get("cases_to"))
            except ValueError as error:
                return web.json({"error": "bad_cohort", "detail": str(error)}, status=400)
        try:
            report = await build_retention_report(await ctx.pool(), cohort, query.get("period") or None)
        except UnknownPeriod as unknown:  # the sentence `billing report retention --period` says
            return web.json({"error": "unknown_period", "detail": str(unknown)}, status=404)
        report["live_counts"] = live_counts(app)
        return web.json(report)

    @app.timer(interval=_LAG_INTERVAL_S)
    async def observe_agent_lag() -> None:
        consumer = app.consumer
        for tp in consumer.assignment():
            ctx.observe_lag(tp.topic, tp.partition, consumer.highwater(tp))


async def _refresh_queue_metrics(ctx: WorkerContext, queue_service: QueueMetricsCollector) -> None:
    # The billing_queue_* figures come from PostgreSQL; without it the scrape still answers, with the last ones.
    try:
        async with connection(await ctx.pool()) as conn:
            figures = await asyncio.wait_for(metrics_view.load_figures(conn, ctx.settings, metrics_view.utc_now()), 2)
        queue_service.update(figures, ctx.settings.service_level_threshold_s)
    except Exception as error:  # noqa: BLE001 - metrics must not fail the scrape
        ctx.log.warning("queue metrics not refreshed", error=repr(error))


async def _refresh_receivables(ctx: WorkerContext, collector: ReceivablesCollector) -> None:
    # Aged on the event-time clock dunning runs on (the wall clock before any usage); the last figures on failure.
    try:
        pool = await ctx.pool()
        as_of = await event_time_clock(pool) or metrics_view.utc_now()
        grace = load_policy(ctx.settings).grace_days
        collector.update(await asyncio.wait_for(receivables(pool, as_of, grace), 2))
    except Exception as error:  # noqa: BLE001 - metrics must not fail the scrape
        ctx.log.warning("receivables metrics not refreshed", error=repr(error))


async def _open_broker_losses(ctx: WorkerContext) -> list[dict]:
    """Losses not yet re-published (`billing outbox replay` resolves them), with what to do."""
    try:
        pool = await ctx.pool()
        rows = await asyncio.wait_for(
            pool.fetch(
                "SELECT topic, what, lost_since, detected_at FROM broker_data_losses WHERE resolved_at IS NULL"
                " ORDER BY id"
            ),
            timeout=2,
        )
    except Exception:  # noqa: BLE001 - the database check answers for the database
        return []
    return [
        {
            "topic": r["topic"],
            "what": r["what"],
            "detected_at": r["detected_at"].isoformat(),
            "action": f"billing outbox replay --since {(r['lost_since'] or r['detected_at']).isoformat()}"
            f" --topic {r['topic']}",
        }
        for r in rows
    ]
