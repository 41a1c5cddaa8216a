"""Agent presence: an agent reads and sets its own state; the desk offers tasks only while it is available.

`PUT /agents/me/presence` to offline hands back at once every task the agent was offered and has not accepted
(billing.care.presence). The task routes move a tracked agent's state with its work (claimed: busy, wrap-up:
wrap_up, completed or rejected: available); `POST /tasks/claim` refuses a tracked agent that is not available.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from billing.care import presence
from billing.care.rules.presence import PresenceState, may_be_offered
from billing.entrypoints.api.access import task_json
from billing.entrypoints.api.auth import admits, current_agent, services
from billing.entrypoints.api.errors import ApiError
from billing.entrypoints.api.services import ApiServices
from billing.identity.agent_store import Agent
from billing.identity.rules.roles import WORKERS

router = APIRouter(tags=["presence"])


class PresenceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: PresenceState


@router.get("/agents/me/presence", name="presence.read", **admits(WORKERS))
async def read_presence(agent: Agent = Depends(current_agent), svc: ApiServices = Depends(services)) -> dict[str, Any]:
    """The agent's state and since when; `state` null for an agent that never set one (offered tasks as before)."""
    now = svc.clock()
    found = await presence.current(await svc.pool(), agent.agent_id)
    return found.as_json(now) if found else {"agent_id": agent.agent_id, "state": None, "since": None, "seconds": 0}


@router.put("/agents/me/presence", name="presence.set", **admits(WORKERS))
async def set_presence(
    body: PresenceBody, request: Request, agent: Agent = Depends(current_agent), svc: ApiServices = Depends(services)
) -> dict[str, Any]:
    now = svc.clock()
    change = await presence.set_state(await svc.pool(), agent.agent_id, body.state, now)
    record_change(svc, change)
    return {**change.presence.as_json(now), "released": [task_json(t) for t in change.released]}


def record_change(svc: ApiServices, change: presence.Change | None) -> None:
    """The presence metrics: the finished spell's seconds under its state, and the state entered."""
    if change is None or change.left is None:
        return
    seconds = max(0.0, (change.presence.since - change.left.since).total_seconds())
    svc.metrics.presence_seconds.labels(change.left.state.value).inc(seconds)
    svc.metrics.presence_changes.labels(change.presence.state.value).inc()


async def follow(svc: ApiServices, agent: Agent, step: str) -> None:
    """A task step moves a tracked agent's presence (billing.care.rules.presence.AFTER_STEP)."""
    record_change(svc, await presence.follow(await svc.pool(), agent.agent_id, step, svc.clock()))


async def refuse_unless_available(svc: ApiServices, agent: Agent) -> None:
    found = await presence.current(await svc.pool(), agent.agent_id)
    state = found.state if found else None
    if not may_be_offered(state):
        raise ApiError(409, "not_available", f"you are {state}; set your presence to available to be offered tasks")
