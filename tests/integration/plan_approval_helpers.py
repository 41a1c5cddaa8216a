"""What tests/integration/test_plan_change_in_effect.py uses to change plans and approve changes: the agent's
request, the account view, the plan history and the audit rows, a supervisor's hold on an approval task, a wall
session over the API's own pages (cookie and CSRF token, as the browser has them), and the plan change events
waiting in the outbox."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import httpx
import orjson

from billing.discounts.rules.policy_defaults import DEFAULT_POLICY_DATA
from tests.integration.agent_api_helpers import bearer
from tests.integration.helpers import unique

PLAN_CHANGES = (
    "SELECT convert_from(value, 'UTF8') FROM outbox WHERE convert_from(value, 'UTF8') LIKE '%account.plan_changed.v1%'"
    " AND convert_from(value, 'UTF8') LIKE $1"
)


async def plan_change_events(pool, account: str) -> list[dict]:
    """The account.plan_changed.v1 events enqueued for the account, oldest first (published or not yet)."""
    rows = await pool.fetch(PLAN_CHANGES + " ORDER BY 1", f"%{account}%")
    return [orjson.loads(row[0]) for row in rows]


async def hold_approval(client, token: str, agent_id: str, task_id: str) -> None:
    """The supervisor takes the approval task as the wall does: offered to themselves, then accepted."""
    offered = await client.post(f"/tasks/{task_id}/reassign", headers=bearer(token), json={"agent_id": agent_id})
    assert offered.status_code == 200, offered.text
    accepted = await client.post(f"/tasks/{task_id}/accept", headers=bearer(token))
    assert accepted.status_code == 200, accepted.text


async def approve(client, task_id: str, token: str, key: str) -> httpx.Response:
    return await client.post(f"/tasks/{task_id}/approve", headers={**bearer(token), "Idempotency-Key": key})


class WallSession:
    """The supervisor's wall through the API's own pages: signed in with the token, then the session cookie and the
    page's CSRF token on every action, as htmx sends them."""

    def __init__(self, app) -> None:
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
        self.csrf = ""

    async def sign_in(self, token: str) -> None:
        signed = await self.client.post("/signin", data={"token": token})
        assert (signed.status_code, signed.headers["location"]) == (303, "/wall"), signed.text
        page = await self.client.get("/wall")
        found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
        assert found is not None, page.text[:500]
        self.csrf = found.group(1)

    async def approvals(self) -> str:
        part = await self.client.get("/wall/part/approvals")
        assert part.status_code == 200, part.text
        return part.text

    async def decide(self, decision: str, task_id: str, reason: str = "") -> str:
        form = {"task_id": task_id, **({"reason": reason} if reason else {})}
        answer = await self.client.post(f"/wall/act/{decision}", data=form, headers={"X-CSRF-Token": self.csrf})
        assert answer.status_code == 200, answer.text
        return answer.text

    async def close(self) -> None:
        await self.client.aclose()


def row_of(html: str, task_id: str) -> str:
    """The wall's row of an approval task, tags stripped: what the supervisor reads."""
    found = re.search(rf'<tr data-task-id="{re.escape(task_id)}".*?</tr>', html, re.S)
    assert found is not None, f"no row for {task_id} on the wall"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(0)).split())


def tightened_policy(folder: Path) -> Path:
    """The default policy with every plan-change limit cut (agent 500, tier2 800, supervisor 1,000 EUR cents), as
    if the business tightened it while a request waited."""
    data = copy.deepcopy(DEFAULT_POLICY_DATA)
    for role, limit in (("agent", 500), ("tier2", 800), ("supervisor", 1000)):
        data["authority"]["EUR"][role]["max_plan_change_reduction_minor"] = limit
    path = folder / "tightened-policy.json"
    path.write_bytes(orjson.dumps(data))
    return path


async def account_view(client, task_id: str, token: str) -> dict:
    answer = await client.get(f"/tasks/{task_id}/account", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return answer.json()["account"]


async def change(
    client, task_id: str, token: str, plan_id: str, effective: str, key: str | None = None, reason: str | None = None
):
    headers = {**bearer(token), "Idempotency-Key": key or unique("k")}
    body = {"plan_id": plan_id, "effective": effective, **({"reason": reason} if reason else {})}
    return await client.post(f"/tasks/{task_id}/plan-change", headers=headers, json=body)


async def periods(pool, account: str) -> list[tuple[str, str]]:
    rows = await pool.fetch(
        "SELECT plan_id, effective_at FROM account_plan_changes WHERE account_id = $1 ORDER BY effective_at", account
    )
    return [(row["plan_id"], row["effective_at"].isoformat()) for row in rows]


async def audit(pool, task_id: str, action: str) -> list[tuple[int, str]]:
    rows = await pool.fetch(
        "SELECT status, result FROM audit_log WHERE task_id = $1 AND action = $2 ORDER BY audit_id", task_id, action
    )
    return [(row["status"], row["result"]) for row in rows]
