"""With its database unreachable the API answers 503 with a reason, never a success without its audit row."""

from __future__ import annotations

import httpx

from billing.entrypoints.api.app import create_app
from billing.platform.settings import load_settings

DEAD_DATABASE = "postgresql://billing@127.0.0.1:1/billing"  # port 1: refused at once


async def test_an_unreachable_database_answers_503_and_retry_after() -> None:
    app = create_app(load_settings(database_url=DEAD_DATABASE))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.get("/queues", headers={"Authorization": "Bearer some-token"})
        health = await client.get("/health")
    assert response.status_code == 503
    assert response.json() == {
        "error": "unavailable",
        "message": "the service cannot reach its database; try again shortly",
    }
    assert response.headers["Retry-After"] == "1"
    # Health checks what the API depends on (issue 16, point 20): it once answered 200 with the database down.
    assert (health.status_code, health.json()) == (
        503,
        {"status": "degraded", "checks": {"database": False}, "down": ["database"]},
    )
