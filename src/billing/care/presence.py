"""Agent presence on PostgreSQL: the state now (agent_presence) and every finished spell (agent_presence_spells),
so time per state is a sum. Going offline hands every task the agent holds in the `reserved` state (an offer not
yet accepted) back to its queue at once, with the supervisor's release move (billing.care.holds.release), in the
same transaction as the state change; a task already accepted stays with its agent (a caller is on the line).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from billing.care import holds
from billing.care.rules.presence import AFTER_STEP, PresenceState, effective_state
from billing.care.rules.queue_model import HELD_STATES, QueueTask
from billing.platform.unit_of_work import Database, unit_of_work


@dataclass(frozen=True)
class Presence:
    agent_id: str
    state: PresenceState
    since: datetime

    def as_json(self, now: datetime) -> dict[str, object]:
        seconds = max(0.0, (now - self.since).total_seconds())
        return {"agent_id": self.agent_id, "state": self.state.value, "since": self.since, "seconds": seconds}


@dataclass(frozen=True)
class Change:
    presence: Presence
    left: Presence | None  # the spell that ended (None: the agent was not tracked, or stayed in its state)
    released: tuple[QueueTask, ...] = ()


async def current(db: Database, agent_id: str) -> Presence | None:
    """The stored state, with a stale busy or wrap-up (nothing held any more) read as available."""
    row = await db.fetchrow("SELECT state, since FROM agent_presence WHERE agent_id = $1", agent_id)
    if row is None:
        return None
    held = await db.fetchval(
        "SELECT count(*) FROM tasks WHERE holder_agent_id = $1 AND state = ANY($2::text[])", agent_id, list(HELD_STATES)
    )
    state = effective_state(PresenceState(row["state"]), bool(held))
    return Presence(agent_id, state or PresenceState(row["state"]), row["since"])


async def set_state(db: Database, agent_id: str, state: PresenceState, now: datetime) -> Change:
    """Store the agent's new state (timing the one it leaves); offline gives reserved tasks back at once."""
    async with unit_of_work(db) as conn:
        row = await conn.fetchrow("SELECT state, since FROM agent_presence WHERE agent_id = $1 FOR UPDATE", agent_id)
        left = Presence(agent_id, PresenceState(row["state"]), row["since"]) if row else None
        if left is not None and left.state is state:
            return Change(left, None)
        if left is not None:
            await conn.execute(
                "INSERT INTO agent_presence_spells (agent_id, state, started_at, ended_at) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT DO NOTHING",
                agent_id,
                left.state.value,
                left.since,
                max(now, left.since),
            )
        await conn.execute(
            "INSERT INTO agent_presence (agent_id, state, since) VALUES ($1, $2, $3)"
            " ON CONFLICT (agent_id) DO UPDATE SET state = EXCLUDED.state, since = EXCLUDED.since",
            agent_id,
            state.value,
            now,
        )
        released: list[QueueTask] = []
        if state is PresenceState.OFFLINE:
            reserved = await conn.fetch(
                "SELECT task_id FROM tasks WHERE holder_agent_id = $1 AND state = 'reserved' ORDER BY task_id",
                agent_id,
            )
            for task in reserved:
                released.append(await holds.release(conn, task["task_id"], now))
        return Change(Presence(agent_id, state, now), left, tuple(released))


async def follow(db: Database, agent_id: str, step: str, now: datetime) -> Change | None:
    """After a task step of a tracked agent: the state the step leaves (untracked agents stay untracked)."""
    tracked = await db.fetchval("SELECT state FROM agent_presence WHERE agent_id = $1", agent_id)
    if tracked is None or tracked == PresenceState.OFFLINE.value:
        return None
    return await set_state(db, agent_id, AFTER_STEP[step], now)


async def roster(db: asyncpg.Pool, day_start: datetime) -> list[dict[str, object]]:
    """Every active agent with its state, since when, and seconds per state since `day_start` (finished spells)."""
    rows = await db.fetch(
        "SELECT a.agent_id, a.name, a.role, p.state, p.since,"
        " (SELECT coalesce(jsonb_object_agg(s.state, s.secs), '{}'::jsonb) FROM (SELECT state,"
        "   sum(extract(epoch FROM ended_at - greatest(started_at, $1)))::float AS secs FROM agent_presence_spells"
        "   WHERE agent_id = a.agent_id AND ended_at > $1 GROUP BY state) s) AS spells"
        " FROM agents a LEFT JOIN agent_presence p USING (agent_id) WHERE a.active ORDER BY a.name, a.agent_id",
        day_start,
    )
    return [dict(r) for r in rows]
