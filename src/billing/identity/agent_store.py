"""Agents and their tokens, and the customers' PINs (asyncpg). Only hashes are stored."""

from __future__ import annotations

import asyncio
import re
import secrets as _random
from dataclasses import dataclass
from datetime import UTC, datetime

from billing.care.holds import release_held_by
from billing.identity.rules.roles import Role
from billing.identity.rules.secrets import hash_secret, new_token, token_hash
from billing.platform.unit_of_work import Database, unit_of_work

_PIN = re.compile(r"^[0-9]{4,8}$")


@dataclass(frozen=True)
class Agent:
    agent_id: str
    name: str
    role: Role

    @property
    def tier(self) -> int:
        return 1 if self.role is Role.AGENT else 2


async def create_agent(db: Database, name: str, role: Role) -> tuple[Agent, str]:
    """A new agent and its token; the token is returned once and only its hash is kept."""
    token = new_token()
    agent = Agent(agent_id=f"agt-{_random.token_hex(6)}", name=name, role=Role(role))
    await db.execute(
        "INSERT INTO agents (agent_id, name, role, token_hash) VALUES ($1, $2, $3, $4)",
        agent.agent_id,
        agent.name,
        agent.role.value,
        token_hash(token),
    )
    return agent, token


async def revoke_agent(db: Database, agent_id: str, now: datetime | None = None) -> bool:
    """The agent's token stops working at once and every task it holds goes back to its queue, in one
    transaction (nobody else could finish them otherwise); the row stays, so the audit log keeps naming the agent."""
    async with unit_of_work(db) as conn:
        revoked = await conn.fetchval("UPDATE agents SET active = false WHERE agent_id = $1 RETURNING true", agent_id)
        if revoked:
            await release_held_by(conn, agent_id, now or datetime.now(UTC))
    return revoked is True


async def agent_for_token(db: Database, token: str) -> Agent | None:
    row = await db.fetchrow(
        "SELECT agent_id, name, role FROM agents WHERE token_hash = $1 AND active", token_hash(token)
    )
    return Agent(row["agent_id"], row["name"], Role(row["role"])) if row else None


async def active_agent(db: Database, agent_id: str) -> Agent | None:
    row = await db.fetchrow("SELECT agent_id, name, role FROM agents WHERE agent_id = $1 AND active", agent_id)
    return Agent(row["agent_id"], row["name"], Role(row["role"])) if row else None


def check_pin(pin: str) -> str:
    if not _PIN.match(pin):
        raise ValueError("a PIN is 4 to 8 digits")
    return pin


async def set_account_pin(db: Database, account_id: str, pin: str) -> None:
    stored = await asyncio.to_thread(hash_secret, check_pin(pin))
    await db.execute(
        "INSERT INTO caller_secrets (account_id, pin_hash) VALUES ($1, $2)"
        " ON CONFLICT (account_id) DO UPDATE SET pin_hash = EXCLUDED.pin_hash, updated_at = now()",
        account_id,
        stored,
    )
