"""Caller verification on a call the agent holds: a PIN, or a one-time code sent to the contact of record."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Self

from fastapi import Depends, Request
from fastapi.routing import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from billing.contracts.base import Identifier
from billing.entrypoints.api.access import task_of_held_call
from billing.entrypoints.api.audit import note_result
from billing.entrypoints.api.auth import admits, current_agent, services
from billing.entrypoints.api.errors import ApiError
from billing.entrypoints.api.services import ApiServices
from billing.identity import verification
from billing.identity.agent_store import Agent
from billing.identity.rules.roles import WORKERS
from billing.identity.verification import Attempt, Channel, Method
from billing.platform.unit_of_work import connection

router = APIRouter(tags=["calls"])


class Proof(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: str | None = Field(None, pattern=r"^[0-9]{4,8}$", description="The PIN the caller gives.")
    code: str | None = Field(None, pattern=r"^[0-9]{6}$", description="The one-time code the caller reads out.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.pin is None) == (self.code is None):
            raise ValueError("give exactly one of pin or code")
        return self


class CodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel = Field(description="sms to the phone of record, email to the e-mail of record.")


def _locked(until: Any) -> ApiError:
    return ApiError(423, "locked_out", f"verification for this account is locked until {until.isoformat()}")


@router.post("/calls/{call_id}/verify", name="calls.verify", **admits(WORKERS))
async def verify(
    call_id: Identifier,
    body: Proof,
    request: Request,
    agent: Agent = Depends(current_agent),
    svc: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Check the caller's PIN or one-time code; 5 failures in a row lock the account for 30 minutes."""
    task = await task_of_held_call(request, svc, agent, call_id)
    method, secret = (Method.PIN, body.pin) if body.pin is not None else (Method.CODE, body.code)
    attempt = Attempt(call_id, task.account_id, agent.agent_id, method, secret or "")
    async with connection(await svc.pool()) as conn:
        verdict = await verification.verify(conn, attempt, svc.lockout, svc.clock())
    svc.metrics.verifications.labels(method.value, verdict.result).inc()
    if verdict.result == "locked":
        raise _locked(verdict.locked_until)
    note_result(request, "verified" if verdict.result == "passed" else "verification_failed")
    return {
        "call_id": call_id,
        "verified": verdict.result == "passed",
        "failures_left": verdict.failures_left,
        "locked_until": verdict.locked_until,
    }


@router.post("/calls/{call_id}/otp", name="calls.send_code", status_code=202, **admits(WORKERS))
async def send_code(
    call_id: Identifier,
    body: CodeRequest,
    request: Request,
    agent: Agent = Depends(current_agent),
    svc: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Send a one-time code to the contact of record (never to a number the caller dictates)."""
    task = await task_of_held_call(request, svc, agent, call_id)
    now = svc.clock()
    # One connection for the request; send_code opens its own transaction on it, after hashing the code.
    async with connection(await svc.pool()) as conn:
        state = await verification.lock_state(conn, task.account_id)
        if state.is_locked(now):
            raise _locked(state.locked_until)
        try:
            sent_to, expires_at = await verification.send_code(
                conn,
                call_id,
                task.account_id,
                body.channel,
                timedelta(seconds=svc.settings.otp_ttl_s),
                now,
                svc.code_seal,
            )
        except verification.NoContact as exc:
            raise ApiError(422, "no_contact", str(exc)) from None
        except verification.TooManyCodes as exc:
            raise ApiError(429, "too_many_codes", str(exc)) from None
    svc.notifications.kick()
    return {"call_id": call_id, "channel": body.channel, "sent_to": sent_to, "expires_at": expires_at}
