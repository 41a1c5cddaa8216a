"""GET /live/events: the server-sent event stream of the desk and the wall (billing.entrypoints.api.live).

Named events: `queues` for every task change (the queue panels and the wall reload), `mine` when the change
concerns a task this agent holds or held, or names the agent among those it concerns (a task reassigned to it),
and someone else made it (its task panel reloads), `reset` when the page's Last-Event-ID cannot be resumed or the
hub lost one of its sources for a while (every panel reloads). A connection ends after STREAM_S and the browser
reconnects with its Last-Event-ID, so nothing is lost and a server shutting down is never held open by a page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from billing.care import store
from billing.entrypoints.api.auth import current_agent, services
from billing.entrypoints.api.live import RESET, Hub, LiveEvent
from billing.entrypoints.api.services import ApiServices
from billing.identity.agent_store import Agent

router = APIRouter(include_in_schema=False)
STREAM_S = 300.0
PING_S = 15.0


@router.get("/live/events", name="live.events")
async def events(
    request: Request,
    last_event_id: str | None = Query(None, max_length=64, pattern=r"^[0-9a-f]+-[0-9]+$"),
    agent: Agent = Depends(current_agent),
    svc: ApiServices = Depends(services),
) -> StreamingResponse:
    hub: Hub = request.app.state.live
    last = request.headers.get("last-event-id") or last_event_id
    stream = _stream(hub, svc, agent, last)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


async def _stream(hub: Hub, svc: ApiServices, agent: Agent, last: str | None) -> AsyncIterator[str]:
    queue = hub.listen()
    try:
        yield "retry: 1000\n\n"
        held = {t.task_id for t in await store.tasks_held_by(await svc.pool(), agent.agent_id)}
        if last:
            missed = hub.since(last)
            if missed is None:
                yield _frame(None, "reset", "{}")
            for event in missed or ():
                for frame in _frames(event, agent, held):
                    yield frame
        ends = time.monotonic() + STREAM_S
        while (left := ends - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(min(PING_S, left)):  # not wait_for: it can swallow the disconnect's cancel
                    event = await queue.get()
            except TimeoutError:
                yield ": ping\n\n"
                continue
            if event.task_id and (event.agent_id == agent.agent_id or agent.agent_id in event.concerns):
                held.add(event.task_id)
            for frame in _frames(event, agent, held):
                yield frame
            if event.type == RESET or event.agent_id == agent.agent_id or event.task_id in held:
                held = {t.task_id for t in await store.tasks_held_by(await svc.pool(), agent.agent_id)} | (
                    {event.task_id} if event.task_id else set()
                )
    finally:
        hub.leave(queue)


def _frames(event: LiveEvent, agent: Agent, held: set[str]) -> list[str]:
    if event.type == RESET:  # the hub's source was lost for a while: every panel reloads
        return [_frame(event.event_id, "reset", "{}")]
    frames = [_frame(event.event_id, "queues", event.data())]
    # The page that acted already shows the result of its own action (and a flash a reload would wipe): the
    # local event of the action and the workers' task event naming this agent (accepted, completed) both come
    # after the page's own answer, and a reload then would also wipe what the agent is typing (a PIN).
    own_action = event.agent_id == agent.agent_id
    # Someone else's change to a task this agent holds or held, or one that moves a task to it (a reassignment).
    if not own_action and (agent.agent_id in event.concerns or (event.task_id is not None and event.task_id in held)):
        frames.append(_frame(event.event_id, "mine", event.data()))
    return frames


def _frame(event_id: str | None, name: str, data: str) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {name}\ndata: {data}\n\n"
