"""The agent API application: `create_app(settings)` builds it without connecting to anything.

The database pool opens on the first request that needs it and closes when the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from billing.entrypoints.api.audit import AuditMiddleware
from billing.entrypoints.api.auth import AuthenticateFirst
from billing.entrypoints.api.body_limit import BodyLimit
from billing.entrypoints.api.desk import desk_page, signin, stream, wall_page
from billing.entrypoints.api.desk.docs import install_docs
from billing.entrypoints.api.desk.security import SecurityHeaders, docs_csp
from billing.entrypoints.api.desk.views import STATIC
from billing.entrypoints.api.errors import install_error_handlers
from billing.entrypoints.api.live import Hub, LocalChanges, follow_task_events
from billing.entrypoints.api.live_peers import PeerChanges
from billing.entrypoints.api.routes import (
    accounts,
    audit,
    calls,
    collections,
    discounts,
    disputes,
    invoices,
    offer,
    plans,
    presence,
    supervision,
    tasks,
    webhooks,
)
from billing.entrypoints.api.services import ApiServices, Clock, utc_now
from billing.platform.settings import Settings

DESCRIPTION = """Agent tools take tasks from the care queues, verify the caller, see the account (masked until
verified on this call) and record what they did. Every request carries `Authorization: Bearer <token>`
(`billing agent create`); each route lists the roles it admits under `x-roles`. Every request to an action is
written to the append-only audit log. Errors are `{"error": code, "message": sentence}`. The agent desk (`/desk`) and
the supervisor wall (`/wall`) are pages of this same process over these routes (docs/desk.md)."""


def create_app(settings: Settings, clock: Clock = utc_now) -> FastAPI:
    svc = ApiServices(settings, clock)
    hub = Hub()
    # The other API processes' desk changes, and this one's for them (PostgreSQL NOTIFY/LISTEN; docs/desk.md).
    peers = (
        PeerChanges(hub, settings.database_url.get_secret_value(), svc.pool, svc.metrics)
        if settings.database_url
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc.notifications.start()  # codes left pending by a previous run with the same key go out now
        # The pages' live updates follow the workers' task events, when there is a broker to read them from.
        follower = asyncio.create_task(follow_task_events(settings, hub)) if settings.kafka_bootstrap_servers else None
        if peers is not None:
            peers.start()
        yield
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        if peers is not None:
            await peers.stop()
        await svc.close()

    # /docs is served below with Swagger UI's files from this package (no CDN); ReDoc has no local copy.
    app = FastAPI(
        title="Billing agent API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = svc
    app.state.live = hub
    install_error_handlers(app)
    docs_hash = install_docs(app)
    # The last added runs first: the security headers, the audit row (and the 500 of last resort), then the token
    # (or session, with its CSRF check), then the body; the live feed sees what the routes answered.
    app.add_middleware(LocalChanges, hub=hub, tell_peers=peers.tell if peers is not None else None)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(AuthenticateFirst)
    app.add_middleware(AuditMiddleware)
    app.add_middleware(SecurityHeaders, docs_policy=docs_csp(docs_hash))
    for module in (
        tasks,
        calls,
        accounts,
        invoices,
        discounts,
        disputes,
        audit,
        offer,
        plans,
        collections,
        webhooks,
        presence,
        supervision,
    ):
        app.include_router(module.router)
    for page in (signin, desk_page, wall_page, stream):
        app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
        # Every route needs the database: when it does not answer, the API is down too, and says what is.
        checks = {"database": await svc.database_answers()}
        down = [name for name, ok in checks.items() if not ok]
        body = {"status": "degraded", "checks": checks, "down": down} if down else {"status": "ok", "checks": checks}
        return JSONResponse(body, status_code=503 if down else 200)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        # Request counts and durations only; no account data, so Prometheus scrapes it without a token.
        return Response(svc.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return app


def run_api(settings: Settings, listen_fd: int | None = None) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn handles both), on API_HOST:API_PORT or on the listening socket the
    launcher bound and handed down (`billing api --listen-fd`), which no other process can take meanwhile."""
    import socket

    import uvicorn

    from billing.platform.logs import configure_logging, route_process_output

    configure_logging(settings.log_level, settings.log_format)
    route_process_output()
    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        # Open event streams (the desk's live updates) must not hold a stopping server: they are cut after this.
        timeout_graceful_shutdown=3,
    )
    uvicorn.Server(config).run(sockets=None if listen_fd is None else [socket.socket(fileno=listen_fd)])
