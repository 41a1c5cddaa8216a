"""At most API_MAX_BODY_BYTES of a request body are read; a longer one answers 413.

Counted on the stream as it arrives, so a chunked body (no Content-Length) or one longer than its Content-Length
says is cut off at the limit too; a declared length over the limit is refused without reading anything. The body
is read whole here (it is small by then) and handed on, so a route never sees a half-read body. This layer sits
behind AuthenticateFirst: a caller without a valid token gets 401 and none of its body is read.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billing.entrypoints.api.errors import error_response

_GONE = object()  # the client disconnected before its body was in: there is nobody to answer


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        body = None if declared is not None and declared > self.max_bytes else await self._read(receive)
        if body is _GONE:
            return
        if body is None:
            request = Request(scope)
            message = f"the request body is larger than {self.max_bytes} bytes"
            await error_response(request, 413, "body_too_large", message)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)  # type: ignore[arg-type]

    async def _read(self, receive: Receive) -> object:
        """The whole body; None as soon as it passes the limit; _GONE if the client left."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return _GONE
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as the server's own receive does

    return replayed
