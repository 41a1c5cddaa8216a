"""`billing agent`: a reference agent tool on the agent API (claim, verify, view, complete; discount, approve,
refuse, resolve), plus the two administrative commands that work on the database directly (create an agent,
set a customer's PIN).

The money commands send the Idempotency-Key the API requires: `--idempotency-key`, or a new key per invocation,
printed on stderr, so that a command that failed half-way (a timeout) is retried with the same key and never
grants or credits twice.

The tool reads its token from AGENT_TOKEN and the API's address from API_URL (defaults to API_HOST:API_PORT).
They are the client's, not the server's, so they are options of this command and not service settings.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any

import click
import httpx

from billing.contracts.disputes import DisputeOutcome
from billing.contracts.tasks import Practice, TaskOutcome
from billing.discounts.rules.policy import GrantKind
from billing.platform.settings import load_settings

_TIMEOUT_S = 15.0


@click.group("agent")
@click.option("--api-url", envvar="API_URL", default=None, help="Agent API base URL [env API_URL].")
@click.option("--token", envvar="AGENT_TOKEN", default=None, help="Agent token [env AGENT_TOKEN].")
@click.pass_context
def agent(ctx: click.Context, api_url: str | None, token: str | None) -> None:
    """Work the care queues through the agent API (a reference agent tool)."""
    ctx.obj = {"api_url": api_url, "token": token}


@agent.command("create")
@click.option("--name", required=True, help="The agent's name.")
@click.option("--role", required=True, type=click.Choice(["agent", "tier2", "supervisor", "analyst"]))
def create(name: str, role: str) -> None:
    """Register an agent in DATABASE_URL and print its token (shown once; only its hash is stored)."""
    from billing.identity.agent_store import create_agent
    from billing.identity.rules.roles import Role

    async def run() -> tuple[Any, str]:
        conn = await _connect()
        try:
            return await create_agent(conn, name, Role(role))
        finally:
            await conn.close()

    created, token = asyncio.run(run())
    click.echo(f"agent {created.agent_id} ({created.role}) created; its token, shown only now:", err=True)
    click.echo(token)


@agent.command("revoke")
@click.argument("agent_id")
def revoke(agent_id: str) -> None:
    """Revoke an agent's token in DATABASE_URL; its held tasks go back to their queues (the agent stays in the
    audit log)."""
    from billing.identity.agent_store import revoke_agent

    async def run() -> bool:
        conn = await _connect()
        try:
            return await revoke_agent(conn, agent_id)
        finally:
            await conn.close()

    if not asyncio.run(run()):
        click.secho(f"error: no agent {agent_id}", fg="red", err=True)
        sys.exit(1)
    click.echo(f"agent {agent_id} revoked", err=True)


@agent.command("set-pin")
@click.argument("account_id")
@click.option("--pin", prompt=True, hide_input=True, confirmation_prompt=True, help="4 to 8 digits.")
def set_pin(account_id: str, pin: str) -> None:
    """Set the PIN a customer gives on calls (stored as a salted scrypt hash)."""
    from billing.identity.agent_store import set_account_pin

    async def run() -> None:
        conn = await _connect()
        try:
            await set_account_pin(conn, account_id, pin)
        finally:
            await conn.close()

    try:
        asyncio.run(run())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--pin") from None
    click.echo(f"PIN set for {account_id}", err=True)


@agent.command("queues")
@click.pass_obj
def queues(obj: dict) -> None:
    """Waiting tasks and the oldest wait per queue."""
    _show(_call(obj, "GET", "/queues"))


@agent.command("claim")
@click.pass_obj
def claim(obj: dict) -> None:
    """Reserve the next task from the queues your role serves."""
    _show(_call(obj, "POST", "/tasks/claim"))


@agent.command("accept")
@click.argument("task_id")
@click.pass_obj
def accept(obj: dict, task_id: str) -> None:
    """Accept the task you reserved."""
    _show(_call(obj, "POST", f"/tasks/{task_id}/accept"))


@agent.command("reject")
@click.argument("task_id")
@click.pass_obj
def reject(obj: dict, task_id: str) -> None:
    """Hand the reserved task back to its queue."""
    _show(_call(obj, "POST", f"/tasks/{task_id}/reject"))


@agent.command("send-code")
@click.argument("call_id")
@click.option("--channel", type=click.Choice(["sms", "email"]), default="sms", show_default=True)
@click.pass_obj
def send_code(obj: dict, call_id: str, channel: str) -> None:
    """Send a one-time code to the caller's contact of record."""
    _show(_call(obj, "POST", f"/calls/{call_id}/otp", {"channel": channel}))


@agent.command("verify")
@click.argument("call_id")
@click.option("--pin", default=None, help="The PIN the caller gives.")
@click.option("--code", default=None, help="The one-time code the caller reads out.")
@click.pass_obj
def verify(obj: dict, call_id: str, pin: str | None, code: str | None) -> None:
    """Verify the caller on this call with a PIN or a one-time code."""
    body = {"pin": pin} if pin is not None else {"code": code}
    _show(_call(obj, "POST", f"/calls/{call_id}/verify", body))


@agent.command("view")
@click.argument("task_id")
@click.pass_obj
def view(obj: dict, task_id: str) -> None:
    """The account behind the task (masked until the caller is verified on this call)."""
    _show(_call(obj, "GET", f"/tasks/{task_id}/account"))


@agent.command("complete")
@click.argument("task_id")
@click.option("--outcome", required=True, type=click.Choice([outcome.value for outcome in TaskOutcome]))
@click.option("--practice", required=True, type=click.Choice([practice.value for practice in Practice]))
@click.option("--discount-minor", default=0, show_default=True, help="Money granted, in minor units.")
@click.pass_obj
def complete(obj: dict, task_id: str, outcome: str, practice: str, discount_minor: int) -> None:
    """Record the outcome and what was done; closes the task."""
    body = {"outcome": outcome, "practice": practice, "discount_minor": discount_minor}
    _show(_call(obj, "POST", f"/tasks/{task_id}/complete", body))


@agent.command("reassign")
@click.argument("task_id")
@click.argument("agent_id")
@click.pass_obj
def reassign(obj: dict, task_id: str, agent_id: str) -> None:
    """Supervisors: offer a task to AGENT_ID (taken from its holder); they accept it as after a claim."""
    _show(_call(obj, "POST", f"/tasks/{task_id}/reassign", {"agent_id": agent_id}))


@agent.command("release")
@click.argument("task_id")
@click.pass_obj
def release(obj: dict, task_id: str) -> None:
    """Supervisors: hand a held task back to its queue (it keeps its age)."""
    _show(_call(obj, "POST", f"/tasks/{task_id}/release"))


_KEY_OPTION = click.option(
    "--idempotency-key",
    default=None,
    help="Idempotency-Key to send; default: a new one, printed on stderr. Repeat it to retry the same action.",
)


@agent.command("discount")
@click.argument("task_id")
@click.option("--kind", required=True, type=click.Choice([kind.value for kind in GrantKind]))
@click.option("--amount-minor", type=int, default=None, help="Fixed and credit_note kinds, minor units.")
@click.option("--percent-bp", type=int, default=None, help="Percent kind: 1500 = 15 %.")
@click.option("--invoice-count", type=int, default=None, help="Percent kind: how many invoices.")
@click.option("--invoice-id", default=None, help="credit_note kind: the invoice to credit.")
@click.option("--reason-code", required=True)
@click.option("--criterion", "criteria", multiple=True, required=True, help="What made the customer eligible.")
@_KEY_OPTION
@click.pass_obj
def discount(
    obj: dict,
    task_id: str,
    kind: str,
    amount_minor: int | None,
    percent_bp: int | None,
    invoice_count: int | None,
    invoice_id: str | None,
    reason_code: str,
    criteria: tuple[str, ...],
    idempotency_key: str | None,
) -> None:
    """Grant a discount within your authority, or ask for a second person's approval above it."""
    body = {
        "kind": kind,
        "amount_minor": amount_minor,
        "percent_bp": percent_bp,
        "invoice_count": invoice_count,
        "invoice_id": invoice_id,
        "reason_code": reason_code,
        "criteria": list(criteria),
    }
    body = {name: value for name, value in body.items() if value is not None}
    _show(_call(obj, "POST", f"/tasks/{task_id}/discounts", body, key=_key(idempotency_key)))


@agent.command("approve")
@click.argument("task_id")
@_KEY_OPTION
@click.pass_obj
def approve(obj: dict, task_id: str, idempotency_key: str | None) -> None:
    """Approve the discount (or dispute credit) of the approval task you hold."""
    _show(_call(obj, "POST", f"/tasks/{task_id}/approve", key=_key(idempotency_key)))


@agent.command("refuse")
@click.argument("task_id")
@click.option("--reason", required=True, help="Why, for the requester.")
@_KEY_OPTION
@click.pass_obj
def refuse(obj: dict, task_id: str, reason: str, idempotency_key: str | None) -> None:
    """Turn down the discount (or dispute credit) of the approval task you hold."""
    _show(_call(obj, "POST", f"/tasks/{task_id}/refuse", key=_key(idempotency_key), params={"reason": reason}))


@agent.command("resolve")
@click.argument("task_id")
@click.argument("dispute_id")
@click.option("--outcome", required=True, type=click.Choice([outcome.value for outcome in DisputeOutcome]))
@click.option("--credit-minor", type=int, default=None, help="The credit, minor units (credited only).")
@click.option("--reason", required=True)
@_KEY_OPTION
@click.pass_obj
def resolve(
    obj: dict,
    task_id: str,
    dispute_id: str,
    outcome: str,
    credit_minor: int | None,
    reason: str,
    idempotency_key: str | None,
) -> None:
    """Reject a dispute on the task's account, or credit it (above your authority: an approval task)."""
    body: dict[str, Any] = {"outcome": outcome, "reason": reason}
    if credit_minor is not None:
        body["credit_minor"] = credit_minor
    _show(_call(obj, "POST", f"/tasks/{task_id}/disputes/{dispute_id}/resolve", body, key=_key(idempotency_key)))


def _key(given: str | None) -> str:
    if given:
        return given
    key = f"cli-{uuid.uuid4().hex}"
    click.echo(
        f"Idempotency-Key: {key} (to retry this action safely, repeat it with --idempotency-key {key})", err=True
    )
    return key


def _call(
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


def _show(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=2, ensure_ascii=False))


def _default_url() -> str:
    settings = load_settings()
    return f"http://{settings.api_host}:{settings.api_port}"


async def _connect():
    import asyncpg

    return await asyncpg.connect(load_settings().require_database_url())


def register(main: click.Group) -> None:
    main.add_command(agent)
