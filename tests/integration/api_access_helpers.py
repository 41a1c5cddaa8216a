"""Walking the agent API's own route table and sending it requests: helpers of
tests/integration/test_api_access.py."""

from __future__ import annotations

from fastapi.routing import APIRoute

from billing.entrypoints.api.auth import SIGNED_PATHS

# What every refusal carries, and nothing else (no data of the account or the task).
ERROR_KEYS = {"error", "message"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def action_routes(app) -> list[tuple[str, str, dict]]:
    """(method, path, operation) of every agent route in the OpenAPI document, which FastAPI builds from the
    routes. The signed routes (a provider's webhook) take no token: their refusals are tested with them
    (tests/integration/test_collections_feeds.py)."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        if path in SIGNED_PATHS:
            continue
        for method, operation in operations.items():
            found.append((method.upper(), path, operation))
    return found


def every_route(app) -> set[tuple[str, str]]:
    """Walk the router itself (included routers too), so a route hidden from the schema is still seen."""

    def walk(routes):
        for route in routes:
            nested = getattr(route, "original_router", None)
            if nested is not None:
                yield from walk(nested.routes)
            elif getattr(route, "methods", None):
                for method in route.methods - {"HEAD"}:
                    yield method, route.path

    return set(walk(app.routes))


def api_routes(routes) -> list[APIRoute]:
    """Every APIRoute, included routers' too (as every_route walks them)."""
    found: list[APIRoute] = []
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            found += api_routes(nested.routes)
        elif isinstance(route, APIRoute):
            found.append(route)
    return found


def fill(path: str, task_id: str, call_id: str) -> str:
    return path.replace("{task_id}", task_id).replace("{call_id}", call_id)


async def send(client, method, path, token=None, body: bytes | None = b"{}"):
    headers = {"Content-Type": "application/json", **(bearer(token) if token else {})}
    return await client.request(method, path, headers=headers, content=body if method != "GET" else None)


def assert_refused(response, status: int, error: str | None = None) -> None:
    assert response.status_code == status, (response.request.url, response.text)
    payload = response.json()
    assert set(payload) == ERROR_KEYS, f"a refusal carries no data: {payload}"
    assert payload["message"]
    if error is not None:
        assert payload["error"] == error


def page_routes(app) -> set[tuple[str, str]]:
    """(method, path) of the desk's pages, parts and sign-in (billing.entrypoints.api.desk: HTML, not in the API's
    schema), found by the module of their handler."""
    return {
        (method, route.path)
        for route in api_routes(app.routes)
        if route.endpoint.__module__.startswith("billing.entrypoints.api.desk.")
        for method in route.methods - {"HEAD"}
    }
