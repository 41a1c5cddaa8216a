"""The body limit counts what arrives, not what Content-Length claims, and hands a body under it on whole."""

from __future__ import annotations

import json

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse

from billing.entrypoints.api.body_limit import BodyLimit

LIMIT = 1024


async def echo_size(scope, receive, send) -> None:
    body = await Request(scope, receive).body()
    await JSONResponse({"read": len(body)})(scope, receive, send)


async def post(content, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=BodyLimit(echo_size, max_bytes=LIMIT))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.post("/tasks/claim", content=content, headers=headers)


async def pieces(total: int, size: int = 100):
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


async def test_a_body_up_to_the_limit_reaches_the_route_whole() -> None:
    assert (await post(b"x" * LIMIT)).json() == {"read": LIMIT}
    assert (await post(pieces(LIMIT))).json() == {"read": LIMIT}  # chunked, in 11 pieces
    assert (await post(b"")).json() == {"read": 0}


async def test_a_longer_body_answers_413_counted_as_it_arrives() -> None:
    for content in (b"x" * (LIMIT + 1), pieces(LIMIT + 1), pieces(50 * LIMIT)):
        response = await post(content)
        assert response.status_code == 413
        assert json.loads(response.text) == {
            "error": "body_too_large",
            "message": f"the request body is larger than {LIMIT} bytes",
        }


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    assert (await post(b"x" * 10, headers={"Content-Length": str(LIMIT + 1)})).status_code == 413
