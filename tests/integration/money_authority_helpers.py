"""The money-authority world and its helpers, shared by tests/integration/test_money_authority.py (refusals and
verification) and test_money_authority_limits.py (the credit limits); the policy is described there."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from billing.care import store
from billing.discounts.rules.policy import AuthorityPolicy
from billing.discounts.rules.policy_defaults import DEFAULT_POLICY_DATA
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.identity.agent_store import create_agent
from billing.identity.rules.roles import Role
from tests.integration.discounts_helpers import (
    dispute_opened,
    open_account,
    open_disputes,
    upstream_invoice,
)
from tests.integration.helpers import eventually, unique
from tests.integration.money_api_helpers import (
    api_world,
    auth_headers,
)


def _module_policy() -> AuthorityPolicy:
    data = copy.deepcopy(DEFAULT_POLICY_DATA)
    for rule in data["eligibility"].values():
        rule["min_tenure_days"] = 0
    data["authority"]["EUR"]["agent"]["monthly_budget_minor"] = 6_000
    return AuthorityPolicy.from_dict(data)


POLICY = _module_policy()


async def money_world(dated_stack):
    """On the stack without a closer, as tests/integration/test_disputes_credit.py (upstream invoices)."""
    async for built in api_world(dated_stack.settings):
        built["app"].state.services.discount_policy = POLICY
        yield built


async def person(world, role: Role):
    return await create_agent(world["pool"], unique(role.value), role)


async def invoiced_account(world) -> tuple[str, str]:
    live, now = world["live"], datetime.now(UTC)
    account = await open_account(live, now - timedelta(days=40))
    invoice_id = unique("inv")
    await publish(live.require_bootstrap(), [record_of(upstream_invoice(account, invoice_id, now))])
    await eventually(
        lambda: world["pool"].fetchval("SELECT count(*) FROM invoices_issued WHERE invoice_id = $1", invoice_id),
        lambda n: n == 1,
    )
    return account, invoice_id


async def desk_disputes(world, account: str, invoice_id: str, amounts: list[int]) -> list[str]:
    """Disputes opened at the desk (dispute.opened.v1 from another producer: nobody here opened them)."""
    events = [dispute_opened(account, invoice_id, amount) for amount in amounts]
    await open_disputes(world["live"], events)
    return [event.payload.dispute_id for event in events]


def credited(amount_minor: int) -> dict:
    return {"outcome": "credited", "credit_minor": amount_minor, "reason": "charged twice"}


async def resolve_via_api(world, token: str, task_id: str, dispute_id: str, body: dict, key: str | None = "new"):
    key = unique("res") if key == "new" else key
    return await world["client"].post(
        f"/tasks/{task_id}/disputes/{dispute_id}/resolve", json=body, headers=auth_headers(token, key)
    )


async def dispute_row(world, dispute_id: str) -> tuple:
    row = await world["pool"].fetchrow(
        "SELECT stage, status, credit_minor FROM disputes WHERE dispute_id = $1", dispute_id
    )
    return tuple(row)


async def count_of(world, query: str, *args) -> int:
    return await world["pool"].fetchval(query, *args)


def error_of(response) -> tuple[int, str]:
    return response.status_code, response.json().get("error")


async def reserve(pool, agent_id: str, task_id: str) -> None:
    """Claim from the supervisors queue until this approval task is offered to ``agent_id`` (not accepted)."""
    now = datetime.now(UTC)
    for _ in range(50):
        claimed = await store.claim_next(pool, agent_id, ["supervisors"], 60, now)
        assert claimed is not None, f"task {task_id} never offered"
        if claimed.task_id == task_id:
            return
    raise AssertionError(f"task {task_id} never offered")


async def open_on_fee(world, token: str, task_id: str, invoice_id: str) -> str:
    """Open a dispute on the 4,200 fee line through the API and wait for the ledger's row."""
    body = {"invoice_id": invoice_id, "line_id": "fee", "reason": "incorrect_charge"}
    opened = await world["client"].post(f"/tasks/{task_id}/disputes", json=body, headers=auth_headers(token))
    assert opened.status_code == 201, opened.text
    dispute_id = opened.json()["dispute_id"]
    await eventually(
        lambda: count_of(world, "SELECT count(*) FROM disputes WHERE dispute_id = $1", dispute_id), lambda n: n == 1
    )
    return dispute_id
