"""`billing agent create | revoke | set-pin`: the administrative agent commands, which work on the database
(DATABASE_URL) directly rather than through the agent API. agent_commands.py adds them to the `agent` group."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click

from billing.platform.settings import load_settings


@click.command("create")
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


@click.command("revoke")
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


@click.command("set-pin")
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


async def _connect():
    import asyncpg

    return await asyncpg.connect(load_settings().require_database_url())
