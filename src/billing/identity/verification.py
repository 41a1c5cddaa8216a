"""Verifying the caller on a call: a PIN, or a one-time code sent to the contact of record.

One transaction per attempt holds the account's lockout row FOR UPDATE, so parallel guesses from any channel
are counted one after the other and none slips past the limit. While the account is locked no secret is
checked. Hashing (scrypt) runs in a thread so the event loop keeps serving other agents.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import asyncpg

from billing.accounts.facts import contact_and_jurisdiction
from billing.identity.notifications import CODE_SLOT
from billing.identity.rules.lockout import LockoutPolicy, LockoutState, after_failure, after_success
from billing.identity.rules.masking import mask_email, mask_phone
from billing.identity.rules.secrets import CodeSeal, hash_secret, new_one_time_code, verify_secret
from billing.platform.unit_of_work import Database, one_row, unit_of_work


class Method(StrEnum):
    PIN = "pin"
    CODE = "code"


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


@dataclass(frozen=True)
class Attempt:
    call_id: str
    account_id: str
    agent_id: str
    method: Method
    secret: str


@dataclass(frozen=True)
class Verdict:
    result: str  # passed | failed | locked
    locked_until: datetime | None
    failures_left: int


class NoContact(Exception):
    """The account has no contact of record for that channel."""


class TooManyCodes(Exception):
    """The call already has MAX_LIVE_CODES codes that have not expired: no more messages to the customer."""


# Codes alive at once per call: enough for a lost SMS and a retry by e-mail, too few to flood a customer's phone.
MAX_LIVE_CODES = 3
CODE_MESSAGE = f"Your verification code is {CODE_SLOT}. Never share it."


async def verify(db: Database, attempt: Attempt, policy: LockoutPolicy, now: datetime) -> Verdict:
    async with unit_of_work(db) as conn:
        state = await _locked_state(conn, attempt.account_id)
        if state.is_locked(now):
            await _record(conn, attempt, "locked", now)
            return Verdict("locked", state.locked_until, 0)
        passed = await _secret_matches(conn, attempt, now)
        state = after_success(state) if passed else after_failure(state, policy, now)
        await conn.execute(
            "UPDATE verification_lockouts SET failures = $2, locked_until = $3 WHERE account_id = $1",
            attempt.account_id,
            state.failures,
            state.locked_until,
        )
        result = "passed" if passed else "failed"
        await _record(conn, attempt, result, now)
        if passed:
            await conn.execute(
                "INSERT INTO verifications (call_id, account_id, agent_id, method, verified_at)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (call_id) DO NOTHING",
                attempt.call_id,
                attempt.account_id,
                attempt.agent_id,
                attempt.method.value,
                now,
            )
        left = 0 if state.is_locked(now) else policy.max_failures - state.failures
        return Verdict(result, state.locked_until, left)


async def lock_state(conn: asyncpg.Connection, account_id: str) -> LockoutState:
    row = await conn.fetchrow(
        "SELECT failures, locked_until FROM verification_lockouts WHERE account_id = $1", account_id
    )
    return LockoutState(row["failures"], row["locked_until"]) if row else LockoutState()


async def is_verified(conn: asyncpg.Connection, call_id: str, account_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM verifications WHERE call_id = $1 AND account_id = $2)", call_id, account_id
        )
    )


async def send_code(
    conn: asyncpg.Connection,
    call_id: str,
    account_id: str,
    channel: Channel,
    ttl: timedelta,
    now: datetime,
    seal: CodeSeal,
) -> tuple[str, datetime]:
    """Store a new code's hash and queue it for delivery: a notifications row with the message (without the code)
    and the code sealed, which the relay (billing.identity.notifications) delivers and then clears.

    Returns the masked destination and the expiry. Raises NoContact when the contact of record lacks the channel,
    TooManyCodes when the call has MAX_LIVE_CODES valid codes already.
    """
    known = await contact_and_jurisdiction(conn, account_id)
    contact = known[0] if known else {}
    destination = contact.get("phone") if channel is Channel.SMS else contact.get("email")
    if not destination:
        raise NoContact(f"the account has no {'phone' if channel is Channel.SMS else 'e-mail'} on record")
    code = new_one_time_code()
    stored = await asyncio.to_thread(hash_secret, code)
    expires_at = now + ttl
    # The code is hashed before the transaction opens: no lock is held while a thread hashes it.
    async with unit_of_work(conn):
        # One sender per call at a time, so two parallel requests cannot both pass the count.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"otp:{call_id}")
        live = await conn.fetchval(
            "SELECT count(*) FROM one_time_codes WHERE call_id = $1 AND expires_at > $2", call_id, now
        )
        if live >= MAX_LIVE_CODES:
            raise TooManyCodes(f"{live} codes for this call are still valid: ask the caller to read one of them")
        await conn.execute(
            "INSERT INTO one_time_codes (call_id, account_id, code_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
            call_id,
            account_id,
            stored,
            expires_at,
            now,
        )
        await conn.execute(
            "INSERT INTO notifications (account_id, channel, destination, body, sealed_code, key_id, expires_at,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            account_id,
            channel.value,
            destination,
            CODE_MESSAGE,
            seal.seal(code),
            seal.key_id,
            expires_at,
            now,
        )
    masked = mask_phone(destination) if channel is Channel.SMS else mask_email(destination)
    return masked or "", expires_at


async def _locked_state(conn: asyncpg.Connection, account_id: str) -> LockoutState:
    await conn.execute(
        "INSERT INTO verification_lockouts (account_id) VALUES ($1) ON CONFLICT (account_id) DO NOTHING", account_id
    )
    row = await one_row(
        conn, "SELECT failures, locked_until FROM verification_lockouts WHERE account_id = $1 FOR UPDATE", account_id
    )
    return LockoutState(row["failures"], row["locked_until"])


async def _secret_matches(conn: asyncpg.Connection, attempt: Attempt, now: datetime) -> bool:
    if attempt.method is Method.PIN:
        stored = await conn.fetchval("SELECT pin_hash FROM caller_secrets WHERE account_id = $1", attempt.account_id)
        return stored is not None and await asyncio.to_thread(verify_secret, attempt.secret, stored)
    codes = await conn.fetch(
        "SELECT code_id, code_hash FROM one_time_codes WHERE call_id = $1 AND account_id = $2"
        " AND used_at IS NULL AND expires_at > $3 ORDER BY code_id DESC LIMIT 3",
        attempt.call_id,
        attempt.account_id,
        now,
    )
    for row in codes:
        if await asyncio.to_thread(verify_secret, attempt.secret, row["code_hash"]):
            await conn.execute("UPDATE one_time_codes SET used_at = $2 WHERE code_id = $1", row["code_id"], now)
            return True
    return False


async def _record(conn: asyncpg.Connection, attempt: Attempt, result: str, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO verification_attempts (account_id, call_id, agent_id, method, result, attempted_at)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        attempt.account_id,
        attempt.call_id,
        attempt.agent_id,
        attempt.method.value,
        result,
        now,
    )
