"""Desk sign-in sessions (asyncpg): the agent's token, shown once at sign-in, becomes a random session id held
in an HttpOnly cookie. Only the session id's SHA-256 is stored (a database reader cannot sign in with it), with
its expiry and the synchronizer CSRF token the desk's pages send back on every unsafe request."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from billing.identity.agent_store import Agent, agent_for_token
from billing.identity.rules.roles import Role
from billing.identity.rules.secrets import token_hash


@dataclass(frozen=True)
class DeskSession:
    agent: Agent
    csrf_token: str
    expires_at: datetime


async def sign_in(pool: asyncpg.Pool, token: str, lifetime: timedelta, now: datetime) -> tuple[str, DeskSession] | None:
    """A new session for the agent whose token this is (None for an unknown or revoked token)."""
    agent = await agent_for_token(pool, token)
    if agent is None:
        return None
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires_at = now + lifetime
    await pool.execute(
        "INSERT INTO desk_sessions (session_hash, agent_id, csrf_token, created_at, expires_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        token_hash(session_id),
        agent.agent_id,
        csrf,
        now,
        expires_at,
    )
    # Expired sessions of anyone are dropped here rather than by a sweeper: sign-ins are rare and cheap.
    await pool.execute("DELETE FROM desk_sessions WHERE expires_at < $1", now)
    return session_id, DeskSession(agent, csrf, expires_at)


async def session_for(pool: asyncpg.Pool, session_id: str, now: datetime) -> DeskSession | None:
    """The live session of an active agent, or None (unknown, expired, or the agent was revoked)."""
    row = await pool.fetchrow(
        "SELECT a.agent_id, a.name, a.role, s.csrf_token, s.expires_at FROM desk_sessions s"
        " JOIN agents a USING (agent_id) WHERE s.session_hash = $1 AND s.expires_at > $2 AND a.active",
        token_hash(session_id),
        now,
    )
    if row is None:
        return None
    return DeskSession(Agent(row["agent_id"], row["name"], Role(row["role"])), row["csrf_token"], row["expires_at"])


async def sign_out(pool: asyncpg.Pool, session_id: str) -> None:
    await pool.execute("DELETE FROM desk_sessions WHERE session_hash = $1", token_hash(session_id))
