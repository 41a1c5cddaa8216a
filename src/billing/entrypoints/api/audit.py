"""The append-only audit log: one row per answer to an action route, refusals and failures included.

The outermost of the API's own layers (an ASGI middleware) writes it when the answer starts, so no route can
forget to and no answer goes out without its row: who (the authenticated agent, or nobody), what (the route's
name), when, the status and result (ok, or the refusal's error code), and which account, task and call were
touched or asked for. If the row cannot be written the client gets 503 instead of the answer. The same layer
turns an exception nothing else handled into a 500 (503 for a database outage) and does not re-raise it:
Starlette's ServerErrorMiddleware would, and uvicorn then closes the keep-alive connection.
The table refuses UPDATE, DELETE and TRUNCATE (migration 0005).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import structlog
from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billing.contracts.base import UNSTORABLE
from billing.entrypoints.api.errors import failure_response, unavailable
from billing.identity.rules.masking import mask_card_numbers
from billing.platform.logs import get_logger

# Not actions: probes and documentation are not audited, and need no token.
UNAUDITED_PATHS = frozenset({"/health", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
# The desk's scripts and styles: files of the package, no data, open to anyone like the documentation.
STATIC_PREFIX = "/static/"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
log = get_logger("billing.api")


def unaudited(path: str) -> bool:
    return path in UNAUDITED_PATHS or path.startswith(STATIC_PREFIX)


def touch(
    request: Request, *, account_id: str | None = None, task_id: str | None = None, call_id: str | None = None
) -> None:
    """Routes say which account, task or call a request reached (or tried to), for the audit row."""
    for name, value in (("account_id", account_id), ("task_id", task_id), ("call_id", call_id)):
        if value is not None:
            setattr(request.state, name, value)


def note_result(request: Request, result: str) -> None:
    """A successful request whose business result is not 'ok' (a failed verification)."""
    request.state.result = result


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        supplied = request.headers.get("x-request-id", "")
        request.state.request_id = request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self._answer(request, receive, _AuditedSend(request, send, time.perf_counter()))
        finally:
            structlog.contextvars.unbind_contextvars("request_id")

    async def _answer(self, request: Request, receive: Receive, send: _AuditedSend) -> None:
        try:
            await self.app(request.scope, receive, send)
        except Exception as exc:
            if send.started and not send.complete:
                raise  # half an answer is out: only closing the connection tells the client
            if send.started:
                log.error("api request failed after its answer", exc_info=exc, path=request.url.path)
                return
            await failure_response(request, exc)(request.scope, receive, send)


class _AuditedSend:
    """Forwards the answer, writing its audit row first; swaps in a 503 when the row cannot be written."""

    def __init__(self, request: Request, send: Send, started_at: float) -> None:
        self.request, self.send, self.started_at = request, send, started_at
        self.started = self.complete = self.replaced = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            audited = not unaudited(self.request.url.path)
            if audited and not await _try_write(self.request, message["status"], time.perf_counter() - self.started_at):
                self.replaced = True  # no answer goes out without its audit row: the client sees 503 and may retry
                response = unavailable(self.request)
                response.headers["X-Request-ID"] = self.request.state.request_id
                await response(self.request.scope, _no_body, self.send)
                return
            MutableHeaders(scope=message).append("X-Request-ID", self.request.state.request_id)
        elif message["type"] == "http.response.body":
            self.complete = not message.get("more_body", False)
            if self.replaced:
                return
        await self.send(message)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _try_write(request: Request, status: int, seconds: float) -> bool:
    try:
        await _write(request, status, seconds)
    except Exception as exc:  # noqa: BLE001 - whatever stops the audit row, the answer must say so
        log.error("audit row not written", error=repr(exc), path=_storable(request.url.path), status=status)
        return False
    return True


async def _write(request: Request, status: int, seconds: float) -> None:
    state = request.state
    action, params = _route_of(request)
    result = getattr(state, "error_code", None) or (
        "internal_error" if status >= 500 else getattr(state, "result", "ok")
    )
    row = (
        state.request_id,
        getattr(state, "agent_id", None),
        action,
        request.method,
        _storable(mask_card_numbers(request.url.path))[:500],
        status,
        result,
        _bounded(getattr(state, "account_id", None)),
        _bounded(getattr(state, "task_id", None) or params.get("task_id")),
        _bounded(getattr(state, "call_id", None) or params.get("call_id")),
    )
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


def _route_of(request: Request) -> tuple[str, dict[str, Any]]:
    """The route's name and path parameters; looked up when the request was answered before routing (a 401)."""
    route = request.scope.get("route")
    params = request.scope.get("path_params") or {}
    if route is None:
        # A route the path and method match, else one the path matches (a wrong method).
        found = sorted(_matching(request.app.router.routes, request.scope), key=lambda m: m[0] is not Match.FULL)
        _, route, params = found[0] if found else (None, None, {})
    return getattr(route, "name", None) or "unknown_route", params


def _matching(routes: list[Any], scope: Scope) -> Iterator[tuple[Match, Any, dict[str, Any]]]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI keeps included routers whole (0.16x)
        if included is not None:
            yield from _matching(included.routes, scope)
            continue
        match, child = route.matches(scope)
        if match is not Match.NONE:
            yield match, route, child.get("path_params", {})


def _bounded(value: Any) -> str | None:
    # Ids come from the URL too; a made-up 100 kB "task id" is recorded, but not in full.
    return _storable(str(value))[:200] if value is not None else None


def _storable(text: str) -> str:
    """What the request carried, in a form PostgreSQL's text takes: NUL and lone surrogates written as escapes."""
    return UNSTORABLE.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)
