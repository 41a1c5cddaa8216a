"""Caller verification through the agent API on the real stack: five failures lock the account for every channel
and agent until 30 minutes have passed, parallel guesses are counted one by one, and one-time codes go to the
contact of record and work once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from billing.care import store
from billing.care.lifecycle import NewTask, insert_task, make_task_id
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.identity.agent_store import create_agent, set_account_pin
from billing.identity.rules.roles import Role
from tests.integration.agent_api_helpers import PIN, bearer, customer, delivered
from tests.integration.helpers import eventually, unique

pytestmark = pytest.mark.integration


async def held_call_task(pool, queue: str, account: str) -> tuple[str, str]:
    """A call task for `account` in a queue of its own, claimed by a new agent: (call id, agent token)."""
    call_id = unique("call")
    async with pool.acquire() as conn, conn.transaction():
        task = await insert_task(
            conn,
            NewTask(
                task_id=make_task_id("call", call_id),
                kind="call",
                source_event_id=unique("evt"),
                account_id=account,
                reason="bill_question",
                rule="default",
                queue=queue,
                tier=1,
                static_priority=10,
                priority=10,
                routed_at=datetime.now(UTC),
                call_id=call_id,
                currency="EUR",
            ),
        )
    agent, token = await create_agent(pool, unique("agent"), Role.AGENT)
    # An hour: the lockout test moves the API's clock 30 minutes ahead, and the API refuses a lapsed lease.
    claimed = await store.claim_next(pool, agent.agent_id, [queue], 3600, datetime.now(UTC))
    assert claimed.task_id == task.task_id
    return call_id, token


async def opened_account(agent_api, account: str) -> None:
    now = datetime.now(UTC)
    await publish(agent_api["live"].require_bootstrap(), [record_of(customer(account, unique("inv"), now)[0])])
    await eventually(
        lambda: agent_api["pool"].fetchval("SELECT count(*) FROM accounts WHERE account_id = $1", account),
        lambda n: n == 1,
    )
    await set_account_pin(agent_api["pool"], account, PIN)


async def verify(client, call_id: str, token: str, **proof: str) -> httpx.Response:
    return await client.post(f"/calls/{call_id}/verify", headers=bearer(token), json=proof)


async def test_five_failures_lock_the_account_for_every_channel_for_thirty_minutes(agent_api) -> None:
    client, pool, clock = agent_api["client"], agent_api["pool"], agent_api["clock"]
    account, queue = unique("acc"), unique("lockq")
    await opened_account(agent_api, account)
    phone_call, phone_agent = await held_call_task(pool, queue, account)
    chat_call, chat_agent = await held_call_task(pool, queue, account)  # another channel, another agent

    lefts = [(await verify(client, phone_call, phone_agent, pin="1111")).json()["failures_left"] for _ in range(4)]
    assert lefts == [4, 3, 2, 1]
    fifth = await verify(client, chat_call, chat_agent, pin="2222")  # the count is the account's, not the call's
    assert fifth.status_code == 200 and fifth.json()["verified"] is False and fifth.json()["locked_until"]

    for call_id, token in ((phone_call, phone_agent), (chat_call, chat_agent)):
        locked = await verify(client, call_id, token, pin=PIN)  # even the right PIN is not checked
        assert locked.status_code == 423 and locked.json()["error"] == "locked_out"
        sms = await client.post(f"/calls/{call_id}/otp", headers=bearer(token), json={"channel": "sms"})
        assert sms.status_code == 423
    try:
        clock.offset = timedelta(minutes=29, seconds=50)
        assert (await verify(client, phone_call, phone_agent, pin=PIN)).status_code == 423
        clock.offset = timedelta(minutes=30, seconds=1)
        opened = await verify(client, phone_call, phone_agent, pin=PIN)
        assert opened.status_code == 200 and opened.json()["verified"] is True
    finally:
        clock.offset = timedelta()
    results = await pool.fetch(
        "SELECT result FROM verification_attempts WHERE account_id = $1 ORDER BY attempt_id", account
    )
    assert [r["result"] for r in results] == ["failed"] * 5 + ["locked"] * 3 + ["passed"]
    assert await pool.fetchval("SELECT count(*) FROM notifications WHERE account_id = $1", account) == 0


async def test_a_one_time_code_goes_to_the_contact_of_record_and_works_once(agent_api) -> None:
    client, pool = agent_api["client"], agent_api["pool"]
    account, queue = unique("acc"), unique("otpq")
    await opened_account(agent_api, account)
    call_id, token = await held_call_task(pool, queue, account)
    sent = await client.post(f"/calls/{call_id}/otp", headers=bearer(token), json={"channel": "sms"})
    assert sent.status_code == 202 and sent.json()["sent_to"] == "***78"
    note = await pool.fetchrow("SELECT notification_id, destination FROM notifications WHERE account_id = $1", account)
    assert note["destination"] == "+4915112345678"
    code = (await delivered(agent_api["live"], note["notification_id"]))["body"].split("code is ")[1][:6]
    assert await pool.fetchval("SELECT count(*) FROM one_time_codes WHERE code_hash LIKE $1", f"%{code}%") == 0
    wrong = "000000" if code != "000000" else "111111"
    assert (await verify(client, call_id, token, code=wrong)).json()["verified"] is False
    assert (await verify(client, call_id, token, code=code)).json()["verified"] is True
    reused = await verify(client, call_id, token, code=code)
    assert reused.json()["verified"] is False  # used codes are spent
    for _ in range(2):  # three codes may be valid at once per call (the used one still counts until it expires)
        more = await client.post(f"/calls/{call_id}/otp", headers=bearer(token), json={"channel": "email"})
        assert more.status_code == 202
    flood = await client.post(f"/calls/{call_id}/otp", headers=bearer(token), json={"channel": "sms"})
    assert (flood.status_code, flood.json()["error"]) == (429, "too_many_codes")
    assert await pool.fetchval("SELECT count(*) FROM notifications WHERE account_id = $1", account) == 3


async def test_parallel_guesses_are_counted_one_by_one(agent_api) -> None:
    """Twelve wrong PINs at once from two calls: exactly five are checked, the other seven find the lock."""
    client, pool = agent_api["client"], agent_api["pool"]
    account, queue = unique("acc"), unique("raceq")
    await opened_account(agent_api, account)
    calls = [await held_call_task(pool, queue, account) for _ in range(2)]
    guesses = [verify(client, *calls[i % 2], pin=f"{1000 + i}") for i in range(12)]
    statuses = sorted(r.status_code for r in await asyncio.gather(*guesses))
    assert statuses == [200] * 5 + [423] * 7
    results = await pool.fetch(
        "SELECT result, count(*) AS n FROM verification_attempts WHERE account_id = $1 GROUP BY result ORDER BY result",
        account,
    )
    assert {r["result"]: r["n"] for r in results} == {"failed": 5, "locked": 7}
