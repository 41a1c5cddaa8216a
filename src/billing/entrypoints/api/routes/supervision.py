"""What the supervisor wall reads (and any other client may): queue service figures, agents by presence state,
per-agent handled cases, handle time and service level, approvals waiting, tasks waiting past their widening.

Per-agent figures are over tasks completed since the start of the UTC day: handled = completed by the agent,
AHT = mean of completion - acceptance, SL = share of those answered (accepted - routed) within
SERVICE_LEVEL_THRESHOLD_S (the SL1 definition, as the queue metrics use: answered within T / answered).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

from fastapi import APIRouter, Depends

from billing.care import metrics_view, presence, store
from billing.care.config import load_care_config
from billing.discounts import plan_change_requests
from billing.entrypoints.api.access import task_json
from billing.entrypoints.api.auth import admits, current_agent, services
from billing.entrypoints.api.services import ApiServices
from billing.identity.agent_store import Agent
from billing.identity.rules.roles import AUDITORS, WORKERS, Role
from billing.platform.unit_of_work import connection

router = APIRouter(tags=["supervision"])
SUPERVISORS = frozenset({Role.SUPERVISOR})


def day_start(now: datetime) -> datetime:
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


@router.get("/queues/metrics", name="queues.metrics", **admits(AUDITORS))
async def queue_metrics(svc: ApiServices = Depends(services)) -> dict[str, Any]:
    """Per queue: waiting, oldest wait, SL, ASA, abandonment, all time and over the last window (the workers'
    queue metrics, src/billing/care/metrics_view.py), with the SL definition and threshold used."""
    now = svc.clock()
    async with connection(await svc.pool()) as conn:
        figures = await metrics_view.load_figures(conn, svc.settings, now)
    return metrics_view.as_json(figures, svc.settings, now)


@router.get("/agents/presence", name="presence.roster", **admits(AUDITORS))
async def roster(svc: ApiServices = Depends(services)) -> dict[str, Any]:
    """Every active agent: state (null: never set), since, and seconds per state today (finished spells)."""
    now = svc.clock()
    agents = []
    for row in await presence.roster(await svc.pool(), day_start(now)):
        spells = row["spells"]
        since = cast(datetime | None, row["since"])
        agents.append(
            {
                "agent_id": row["agent_id"],
                "name": row["name"],
                "role": row["role"],
                "state": row["state"],
                "since": since,
                "seconds_in_state": (now - since).total_seconds() if since else None,
                "seconds_today": json.loads(spells) if isinstance(spells, str) else spells,
            }
        )
    return {"agents": agents}


@router.get("/agents/performance", name="agents.performance", **admits(AUDITORS))
async def performance(svc: ApiServices = Depends(services)) -> dict[str, Any]:
    now = svc.clock()
    threshold = svc.settings.service_level_threshold_s
    rows = await (await svc.pool()).fetch(
        "SELECT t.holder_agent_id AS agent_id, a.name, count(*) AS handled,"
        " avg(extract(epoch FROM t.completed_at - t.accepted_at)) FILTER (WHERE t.accepted_at IS NOT NULL) AS aht_s,"
        " count(*) FILTER (WHERE t.accepted_at IS NOT NULL) AS answered,"
        " count(*) FILTER (WHERE t.accepted_at - t.routed_at <= make_interval(secs => $2)) AS within"
        " FROM tasks t LEFT JOIN agents a ON a.agent_id = t.holder_agent_id"
        " WHERE t.state = 'completed' AND t.completed_at >= $1 GROUP BY 1, 2 ORDER BY 2, 1",
        day_start(now),
        float(threshold),
    )
    agents = [
        {
            "agent_id": r["agent_id"],
            "name": r["name"],
            "handled": r["handled"],
            "aht_s": round(float(r["aht_s"]), 1) if r["aht_s"] is not None else None,
            "service_level": round(r["within"] / r["answered"], 4) if r["answered"] else None,
        }
        for r in rows
    ]
    definition = f"SL = completed tasks answered within {threshold} s / completed tasks answered, since 00:00 UTC"
    return {"since": day_start(now), "service_level_definition": definition, "agents": agents}


@router.get("/approvals", name="approvals.waiting", **admits(SUPERVISORS))
async def approvals_waiting(svc: ApiServices = Depends(services)) -> dict[str, Any]:
    """Requests above their requester's authority, waiting for a second person (their tasks), oldest first:
    discounts and dispute credits (``kind`` the grant's kind, ``value_minor`` its value) and plan changes (``kind``
    plan_change: ``from_plan_id``, ``plan_id``, ``effective``, ``fee_change_minor`` the monthly fee's change, the
    requester's ``reason``). Every row has every key (null where it does not apply)."""
    pool = await svc.pool()
    rows = await pool.fetch(
        "SELECT t.task_id, t.state AS task_state, t.holder_agent_id, t.routed_at, r.request_id, r.account_id,"
        " r.kind, r.currency, r.value_minor, r.reason_code, r.requested_by, r.exceeded::text AS exceeded"
        " FROM discount_requests r JOIN tasks t ON t.task_id = r.task_id AND t.kind = 'discount_approval'"
        " WHERE r.status = 'pending' AND t.state IN ('queued', 'reserved', 'accepted', 'wrapping')"
        " ORDER BY t.routed_at"
    )
    discounts = [
        {**_NO_PLAN_CHANGE, **dict(r), "currency": r["currency"].strip(), "exceeded": json.loads(r["exceeded"])}
        for r in rows
    ]
    plan_changes = [
        {
            **{key: row[key] for key in _SHARED_KEYS},
            "kind": "plan_change",
            "value_minor": row["reduction_minor"],
            "reason_code": None,
            "reason": row["reason"],
            "from_plan_id": row["from_plan_id"],
            "plan_id": row["plan_id"],
            "effective": row["effective"],
            "fee_change_minor": -row["reduction_minor"],
        }
        for row in await plan_change_requests.waiting(pool)
    ]
    return {"approvals": sorted(discounts + plan_changes, key=lambda row: row["routed_at"])}


_SHARED_KEYS = (
    "task_id",
    "task_state",
    "holder_agent_id",
    "routed_at",
    "request_id",
    "account_id",
    "currency",
    "requested_by",
    "exceeded",
)
_NO_PLAN_CHANGE = dict.fromkeys(("reason", "from_plan_id", "plan_id", "effective", "fee_change_minor"))


@router.get("/tasks/overdue", name="tasks.overdue", **admits(AUDITORS))
async def overdue(svc: ApiServices = Depends(services)) -> dict[str, Any]:
    """Tasks still waiting after the last widening step of their queue: every pool may take them, nobody has."""
    now = svc.clock()
    config = load_care_config(svc.settings)
    rows = await (await svc.pool()).fetch(
        "SELECT task_id, kind, queue, eligible_queues, priority, routed_at FROM tasks WHERE state = 'queued'"
        " ORDER BY routed_at LIMIT 500"
    )
    tasks = []
    for r in rows:
        steps = config.widening.steps_by_queue.get(r["queue"], ())
        waited = (now - r["routed_at"]).total_seconds()
        last = steps[-1].after_seconds if steps else None
        tasks.append(
            {
                "task_id": r["task_id"],
                "kind": r["kind"],
                "queue": r["queue"],
                "pools": list(r["eligible_queues"]),
                "priority": r["priority"],
                "waited_s": round(waited, 1),
                "last_widening_s": last,
                "beyond_widening": last is not None and waited >= last,
            }
        )
    return {"tasks": tasks}


@router.get("/queues/waiting", name="queues.waiting", **admits(WORKERS))
async def waiting(agent: Agent = Depends(current_agent), svc: ApiServices = Depends(services)) -> dict[str, Any]:
    """Tasks waiting that this agent's role may claim, in claim order (priority, then age): no account data."""
    now = svc.clock()
    rows = await (await svc.pool()).fetch(
        "SELECT task_id, kind, queue, priority, routed_at FROM tasks WHERE state = 'queued'"
        " AND eligible_queues && $1::text[] ORDER BY priority DESC, routed_at, task_id LIMIT 50",
        list(svc.queues_for(agent.role)),
    )
    return {"tasks": [{**dict(r), "waited_s": round((now - r["routed_at"]).total_seconds(), 1)} for r in rows]}


@router.get("/tasks/mine", name="tasks.mine", **admits(WORKERS))
async def mine(agent: Agent = Depends(current_agent), svc: ApiServices = Depends(services)) -> dict[str, Any]:
    """The tasks this agent holds now (reserved, accepted or wrapping), oldest claim first."""
    held = await store.tasks_held_by(await svc.pool(), agent.agent_id)
    return {"tasks": [task_json(t) for t in held]}
