"""A page's action is a request to the API's own route, made in-process through the whole app (authentication,
roles, access rule, audit row, errors), with the page's session cookie and CSRF token: a page can do nothing the
API would refuse the same agent, and the audit log shows the API action under the agent's id. The sub-request's
X-Request-ID is the page request's id with a suffix, so the two audit rows are found together."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Request

from billing.entrypoints.api.desk.security import CSRF_HEADER


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        return str(self.body.get("message") or self.body.get("error") or f"status {self.status}")


_counter = itertools.count(1)


async def call_api(
    request: Request,
    method: str,
    path: str,
    *,
    json: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    idempotent: bool = False,
) -> Answer:
    session = request.state.desk_session
    headers = {
        "cookie": request.headers.get("cookie", ""),
        CSRF_HEADER: session.csrf_token,
        "x-request-id": f"{request.state.request_id[:48]}:{next(_counter)}",
    }
    if idempotent:
        headers["idempotency-key"] = uuid.uuid4().hex  # one press of the button is one action
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://desk.internal") as client:
        response = await client.request(method, path, json=json, params=params, headers=headers)
    try:
        body = response.json()
    except ValueError:
        body = {"error": "unreadable", "message": response.text[:200]}
    return Answer(response.status_code, body if isinstance(body, dict) else {"items": body})
