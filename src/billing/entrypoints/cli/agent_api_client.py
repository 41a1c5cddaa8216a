"""The agent API client the `billing agent` commands share: bearer token, Idempotency-Key, errors as exit codes.

The token (AGENT_TOKEN) and the API's address (API_URL, default API_HOST:API_PORT) are the client's, not the
server's, so they are options of the `agent` group and reach these functions in click's context object.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import click
import httpx

from billing.platform.settings import load_settings

_TIMEOUT_S = 15.0


def key_or_new(given: str | None) -> str:
    """The key the caller gave, or a new one printed on stderr so that a failed command can be retried with it."""
    if given:
        return given
    key = f"cli-{uuid.uuid4().hex}"
    click.echo(
        f"Idempotency-Key: {key} (to retry this action safely, repeat it with --idempotency-key {key})", err=True
    )
    return key


def call(
    obj: dict, method: str, path: str, body: dict | None = None, key: str | None = None, params: dict | None = None
) -> Any:
    if not obj.get("token"):
        raise click.UsageError("set AGENT_TOKEN (or --token) to the token `billing agent create` printed")
    base = obj.get("api_url") or _default_url()
    headers = {"Authorization": f"Bearer {obj['token']}", **({"Idempotency-Key": key} if key else {})}
    try:
        response = httpx.request(
            method, base.rstrip("/") + path, json=body, params=params, headers=headers, timeout=_TIMEOUT_S
        )
    except httpx.HTTPError as exc:
        click.secho(f"error: the agent API at {base} did not answer ({exc})", fg="red", err=True)
        sys.exit(2)
    payload = response.json() if response.content else {}
    if response.is_error:
        click.secho(
            f"error {response.status_code} {payload.get('error')}: {payload.get('message')}", fg="red", err=True
        )
        sys.exit(1)
    return payload


def show(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=2, ensure_ascii=False))


def _default_url() -> str:
    settings = load_settings()
    return f"http://{settings.api_host}:{settings.api_port}"
