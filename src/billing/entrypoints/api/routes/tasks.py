"""Queue overview and the life of a task: claim, accept, reject, wrap up, complete; a supervisor's release and
reassignment."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from billing.care import holds, store
from billing.care.rules.queue_model import QueueTask
from billing.contracts.base import Identifier
from billing.contracts.money import MAX_AMOUNT_MINOR
from billing.contracts.tasks import Practice, TaskOutcome
from billing.entrypoints.api.access import held_task, task_json
from billing.entrypoints.api.audit import touch
from billing.entrypoints.api.auth import admits, current_agent, services
from billing.entrypoints.api.errors import not_found
from billing.entrypoints.api.live import concern
from billing.entrypoints.api.routes.presence import follow, refuse_unless_available
from billing.entrypoints.api.services import ApiServices
from billing.identity.agent_store import Agent, active_agent
from billing.identity.rules.roles import EVERYONE, WORKERS, Role
from billing.platform.unit_of_work import unit_of_work

router = APIRouter(tags=["tasks"])
Transition = Callable[[Any, str, str, datetime], Awaitable[QueueTask]]  # store.accept, store.reject, ...


class Completion(BaseModel):
    model_config = ConfigDict(extra="forbid")  # no mass assignment: unknown fields are refused

    outcome: TaskOutcome
    practice: Practice
    discount_minor: int = Field(
        0, ge=0, le=MAX_AMOUNT_MINOR, strict=True, description="Money granted in this case, minor units."
    )


class Reassignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: Identifier = Field(description="The agent to offer the task to; their role must serve its queue.")


SUPERVISORS = frozenset({Role.SUPERVISOR})


@router.get("/queues", name="queues.overview", **admits(EVERYONE))
async def queues_overview(svc: ApiServices = Depends(services)) -> dict[str, Any]:
    queues = sorted({q for qs in svc.role_queues.values() for q in qs})
    overview = await store.queue_overview(await svc.pool(), svc.clock(), queues)
    return {"queues": [vars(q) for q in overview]}


@router.post("/tasks/claim", name="tasks.claim", **admits(WORKERS))
async def claim(
    request: Request, agent: Agent = Depends(current_agent), svc: ApiServices = Depends(services)
) -> dict[str, Any]:
    """The next task from the queues this agent's role serves: highest priority, then oldest; null if none.
    409 `not_available` for an agent whose presence is set and is not available (routes/presence.py)."""
    await refuse_unless_available(svc, agent)
    queues = svc.queues_for(agent.role)
    task = await store.claim_next(await svc.pool(), agent.agent_id, queues, svc.settings.agent_lease_s, svc.clock())
    if task is None:
        return {"task": None}
    touch(request, task_id=task.task_id, account_id=task.account_id, call_id=task.call_id)
    await follow(svc, agent, "claimed")
    return {"task": task_json(task)}


@router.post("/tasks/{task_id}/accept", name="tasks.accept", **admits(WORKERS))
async def accept(
    task_id: Identifier, request: Request, agent: Agent = Depends(current_agent), svc: ApiServices = Depends(services)
) -> dict[str, Any]:
    return await _step(store.accept, request, svc, agent, task_id, "accepted")


@router.post("/tasks/{task_id}/reject", name="tasks.reject", **admits(WORKERS))
async def reject(
    task_id: Identifier, request: Request, agent: Agent = Depends(current_agent), svc: ApiServices = Depends(services)
) -> dict[str, Any]:
    return await _step(store.reject, request, svc, agent, task_id, "rejected")


@router.post("/tasks/{task_id}/wrap-up", name="tasks.wrap_up", **admits(WORKERS))
async def wrap_up(
    task_id: Identifier, request: Request, agent: Agent = Depends(current_agent), svc: ApiServices = Depends(services)
) -> dict[str, Any]:
    return await _step(store.wrap_up, request, svc, agent, task_id, "wrapping")


async def _step(
    transition: Transition, request: Request, svc: ApiServices, agent: Agent, task_id: str, step: str
) -> dict[str, Any]:
    """A lifecycle step on a task this agent holds: accept, reject or wrap up (and the presence it leaves)."""
    await held_task(request, svc, agent, task_id)
    task = await transition(await svc.pool(), task_id, agent.agent_id, svc.clock())
    await follow(svc, agent, step)
    return {"task": task_json(task)}


@router.post("/tasks/{task_id}/complete", name="tasks.complete", **admits(WORKERS))
async def complete(
    task_id: Identifier,
    body: Completion,
    request: Request,
    agent: Agent = Depends(current_agent),
    svc: ApiServices = Depends(services),
) -> dict[str, Any]:
    await held_task(request, svc, agent, task_id)
    task = await store.complete(
        await svc.pool(),
        task_id,
        agent.agent_id,
        body.outcome.value,
        body.practice.value,
        body.discount_minor,
        svc.clock(),
        agent_tier=agent.tier,
        holdout_share_bp=svc.holdout_share_bp,
    )
    await follow(svc, agent, "completed")
    return {"task": task_json(task)}


@router.post("/tasks/{task_id}/reassign", name="tasks.reassign", **admits(SUPERVISORS))
async def reassign(
    task_id: Identifier, body: Reassignment, request: Request, svc: ApiServices = Depends(services)
) -> dict[str, Any]:
    """Offer the task to a named agent, taken from its holder if it has one: they accept within AGENT_LEASE_S, as
    after a claim. 409 for a finished task, the agent already holding it, or an agent whose role does not serve
    its queue."""
    pool, before = await _supervised(request, svc, task_id)
    # One unit of work: the agent is still active when the task is offered to it.
    async with unit_of_work(pool) as conn:
        target = await active_agent(conn, body.agent_id)
        if target is None:
            raise not_found(f"no active agent {body.agent_id}")
        task = await holds.reassign(
            conn, task_id, target.agent_id, svc.queues_for(target.role), svc.settings.agent_lease_s, svc.clock()
        )
    concern(request, before.holder_agent_id, target.agent_id)  # both desks: it leaves one, is offered on the other
    return {"task": task_json(task)}


@router.post("/tasks/{task_id}/release", name="tasks.release", **admits(SUPERVISORS))
async def release(task_id: Identifier, request: Request, svc: ApiServices = Depends(services)) -> dict[str, Any]:
    """Hand a held task (reserved, accepted or in wrap-up) back to its queue, keeping its age; 409 otherwise."""
    pool, before = await _supervised(request, svc, task_id)
    released = await holds.release(pool, task_id, svc.clock())
    concern(request, before.holder_agent_id)
    return {"task": task_json(released)}


async def _supervised(request: Request, svc: ApiServices, task_id: str) -> tuple[asyncpg.Pool, QueueTask]:
    """The pool and the task as it was, once it is known (404 otherwise) and the audit row names what it reached."""
    touch(request, task_id=task_id)
    pool = await svc.pool()
    task = await store.get_task(pool, task_id)
    touch(request, account_id=task.account_id, call_id=task.call_id)
    return pool, task
