"""The append-only audit log: one row per request to an action route, refusals included.

A middleware writes it after the route has answered, so no route can forget to: who (the authenticated agent,
or nobody), what (the route's name), when, the status and result (ok, or the refusal's error code), and which
account, task and call were touched or asked for. The table refuses UPDATE, DELETE and TRUNCATE (migration 0005).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request, Response

from api.errors import unavailable
from streams.logs import get_logger

# Not actions: probes and documentation are not audited.
UNAUDITED_PATHS = frozenset({"/health", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
log = get_logger("billing.api")


def touch(request: Request, *, account_id: str | None = None, task_id: str | None = None, call_id: str | None = None) -> None:
    """Routes say which account, task or call a request reached (or tried to), for the audit row."""
    for name, value in (("account_id", account_id), ("task_id", task_id), ("call_id", call_id)):
        if value is not None:
            setattr(request.state, name, value)


def note_result(request: Request, result: str) -> None:
    """A successful request whose business result is not 'ok' (a failed verification)."""
    request.state.result = result


def install_audit(app: FastAPI) -> None:
    @app.middleware("http")
    async def audit(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        supplied = request.headers.get("x-request-id", "")
        request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        request.state.request_id = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        try:
            try:
                response = await call_next(request)
            except Exception:
                await _try_write(request, 500, time.perf_counter() - started)
                raise
            if request.url.path not in UNAUDITED_PATHS and not await _try_write(
                request, response.status_code, time.perf_counter() - started
            ):
                # No answer goes out without its audit row: the client sees 503 and may retry.
                response = unavailable(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        response.headers["X-Request-ID"] = request_id
        return response


async def _try_write(request: Request, status: int, seconds: float) -> bool:
    try:
        await _write(request, status, seconds)
    except Exception as exc:  # noqa: BLE001 - whatever stops the audit row, the answer must say so
        log.error("audit row not written", error=repr(exc), path=request.url.path, status=status)
        return False
    return True


async def _write(request: Request, status: int, seconds: float) -> None:
    state = request.state
    params = request.scope.get("path_params") or {}
    route = request.scope.get("route")
    action = getattr(route, "name", None) or "unknown_route"
    result = getattr(state, "error_code", None) or ("internal_error" if status >= 500 else getattr(state, "result", "ok"))
    row = (
        state.request_id, getattr(state, "agent_id", None), action, request.method, request.url.path[:500],
        status, result, _bounded(getattr(state, "account_id", None)),
        _bounded(getattr(state, "task_id", None) or params.get("task_id")),
        _bounded(getattr(state, "call_id", None) or params.get("call_id")),
    )  # fmt: skip
    services = request.app.state.services
    services.metrics.requests.labels(action, str(status), result).inc()
    services.metrics.seconds.labels(action).observe(seconds)
    pool = await services.pool()
    await pool.execute(
        "INSERT INTO audit_log (request_id, agent_id, action, method, path, status, result, account_id, task_id,"
        " call_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        *row,
    )
    log.info("api request", agent_id=row[1], action=action, status=status, result=result, account_id=row[7])


def _bounded(value: str | None) -> str | None:
    # Ids come from the URL too; a made-up 100 kB "task id" is recorded, but not in full.
    return value[:200] if value is not None else None
