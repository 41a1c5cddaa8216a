"""The ACCESS RULE at the edge: an agent reaches a task, a call or an account only while holding its task.

Unknown ids answer 404; ids of tasks held by someone else (or nobody) answer 403; the agent's own finished task
answers 409, and so does a hold whose time ran out by the API's clock (the offer's lease, the handling or the
wrap-up limit), whether or not a sweeper has returned the task yet. Either way the audit row
records which task, call and account were asked for, so browsing attempts show up in the log.

THE VERIFIED CALLER: every task route that moves money or discloses the account's facts (amounts, bills,
invoices, offers derived from them, contact) depends on ``verified_task``: the held task, and for a task with a
call the caller verified on that call (403 ``caller_not_verified`` otherwise, before the body is looked at and
before any figure is read). A task without a call is back-office work (a held invoice, a discount approval):
nobody is on the line, holding the task is the access. The routes: open a dispute, request a discount, approve
or refuse one, resolve a dispute, the retention offer. The account view is the one exception by design: before
verification it answers a masked card (name and contact masked, no history) instead of refusing, so the agent
can greet the caller. tests/integration/test_api_access.py walks the route table, so a new task route needs the
verified caller unless it is listed there as neither moving money nor showing account facts.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from billing.care import store
from billing.care.rules.queue_model import HELD_STATES, QueueTask, hold_limits
from billing.care.rules.task_states import hold_lapsed_at
from billing.contracts.base import Identifier
from billing.entrypoints.api.audit import touch
from billing.entrypoints.api.auth import current_agent, services
from billing.entrypoints.api.errors import ApiError, forbidden, not_found
from billing.entrypoints.api.services import ApiServices
from billing.identity import verification
from billing.identity.agent_store import Agent
from billing.identity.rules.masking import mask_card_numbers
from billing.platform.unit_of_work import connection

# Per held state: the error code and what the agent should know, when the hold has run out.
_LAPSED = {
    "reserved": ("lease_expired", "the offer of task {task} ran out at {at}; claim a task again"),
    "accepted": ("handle_timed_out", "the handling time of task {task} ran out at {at}; it goes back to its queue"),
    "wrapping": ("wrap_up_timed_out", "the wrap-up time of task {task} ran out at {at}; it is closed as timed out"),
}


async def held_task(request: Request, services: ApiServices, agent: Agent, task_id: str) -> QueueTask:
    touch(request, task_id=task_id)
    task = await store.get_task(await services.pool(), task_id)  # TaskNotFound -> 404
    touch(request, account_id=task.account_id, call_id=task.call_id)
    if task.holder_agent_id != agent.agent_id:
        raise forbidden("not_your_task", f"task {task_id} is not held by you")
    if task.state not in HELD_STATES:
        # The agent's own task, finished: no longer a way to the account (and a retried request learns why).
        raise ApiError(409, "conflict", f"task {task_id} is {task.state}")
    refuse_lapsed(services, task)
    return task


async def caller_verified(services: ApiServices, task: QueueTask) -> bool:
    """A task without a call is back-office work (no caller on the line): holding it is the access."""
    if task.call_id is None:
        return True
    async with connection(await services.pool()) as conn:
        return await verification.is_verified(conn, task.call_id, task.account_id)


async def verified_task(
    task_id: Identifier, request: Request, agent: Agent = Depends(current_agent), svc: ApiServices = Depends(services)
) -> QueueTask:
    """The access rule plus the verified caller, as a dependency: refused before the body is even read."""
    task = await held_task(request, svc, agent, task_id)
    if not await caller_verified(svc, task):
        raise forbidden("caller_not_verified", "verify the caller on this call before acting on the account")
    return task


def refuse_lapsed(services: ApiServices, task: QueueTask) -> None:
    """409 when the hold ran out by now, though no sweeper may have ended it yet."""
    lapsed_at = hold_lapsed_at(task.as_core(), services.clock(), hold_limits(services.settings))
    if lapsed_at is not None:
        code, message = _LAPSED[task.state]
        raise ApiError(409, code, message.format(task=task.task_id, at=lapsed_at.isoformat()))


async def task_of_held_call(request: Request, services: ApiServices, agent: Agent, call_id: str) -> QueueTask:
    """The task this agent holds for the call; the account is reached through it."""
    touch(request, call_id=call_id)
    async with connection(await services.pool()) as conn:
        account_id = await conn.fetchval("SELECT account_id FROM tasks WHERE call_id = $1 LIMIT 1", call_id)
        if account_id is None:
            raise not_found(f"no task for call {call_id}")
        touch(request, account_id=account_id)
        held = [t for t in await store.tasks_held_by(conn, agent.agent_id, account_id) if t.call_id == call_id]
    if not held:
        raise forbidden("not_your_call", f"you hold no task for call {call_id}")
    touch(request, task_id=held[0].task_id)
    refuse_lapsed(services, held[0])
    return held[0]


def task_json(task: QueueTask) -> dict[str, Any]:
    # The reason is free text from upstream (a held invoice's) or another agent (a discount's reason code).
    return {
        "task_id": task.task_id,
        "kind": task.kind,
        "account_id": task.account_id,
        "call_id": task.call_id,
        "dispute_id": task.dispute_id,
        "invoice_id": task.invoice_id,
        "reason": mask_card_numbers(task.reason),
        "rule": task.rule,
        "queue": task.queue,
        "tier": task.tier,
        "priority": task.priority,
        "state": task.state,
        "holder_agent_id": task.holder_agent_id,
        "lease_expires_at": task.lease_expires_at,
        "routed_at": task.routed_at,
        "accepted_at": task.accepted_at,
        "completed_at": task.completed_at,
        "outcome": task.outcome,
        "practice": task.practice,
        "discount_minor": task.discount_minor,
        "pending_approval_task_id": task.pending_approval_task_id,
    }
