"""Who is calling (a bearer token per agent, or the desk's cookie session) and what their role lets them do.

The token is checked by a middleware before anything else of the request is read: a request without a valid
one answers 401 whatever its body (malformed, nested, huge), and the body of a stranger is never parsed.
Only the probes, the documentation, the desk's static files (billing.entrypoints.api.audit.unaudited) and the
sign-in page are open, and the routes in SIGNED_PATHS, which no agent calls: a payment provider's webhook proves
itself by the signature of its body (src/billing/entrypoints/api/routes/webhooks.py), and its request is audited
like any other, naming no agent. Without a bearer token, the desk's session cookie authenticates the same way (the
same agent on request.state, so the same roles and audit), and a cookie-authenticated request that changes
something must pass the CSRF check (billing.entrypoints.api.desk.security). A desk page asked for without a
session redirects to the sign-in page instead of answering 401.

Each route declares the roles it admits with `admits(...)`: that both adds the check and writes the roles into
the OpenAPI document (`x-roles`), where the route-table test reads them, so a new route cannot skip the check
unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from billing.entrypoints.api.audit import unaudited
from billing.entrypoints.api.desk.security import SESSION_COOKIE, check_csrf
from billing.entrypoints.api.errors import ERROR_RESPONSES, ApiError, error_response, forbidden, unauthenticated
from billing.entrypoints.api.services import ApiServices
from billing.identity.agent_store import Agent, agent_for_token
from billing.identity.rules.roles import Role
from billing.identity.sessions import session_for

# Routes a machine calls with a signed body instead of an agent's token (each checks its signature first).
PAYMENTS_WEBHOOK = "/webhooks/payments"
SIGNED_PATHS = frozenset({PAYMENTS_WEBHOOK})

_bearer = HTTPBearer(auto_error=False, description="The agent's token from `billing agent create`.")
# Open without credentials: the sign-in form itself. Pages: redirected to it when there is no session.
SIGN_IN = "/signin"
PAGES = frozenset({"/desk", "/wall"})


def services(request: Request) -> ApiServices:
    return request.app.state.services


class AuthenticateFirst:
    """ASGI middleware: every request but the open ones shows a valid token (or session) before its body is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and not unaudited(scope["path"])
            and scope["path"] != SIGN_IN
            and scope["path"] not in SIGNED_PATHS
        ):
            request = Request(scope)
            try:
                await _authenticate(request)
            except ApiError as refused:
                if refused.status == 401 and request.method == "GET" and request.url.path in PAGES:
                    request.state.error_code = refused.code
                    await RedirectResponse(SIGN_IN, status_code=303)(scope, receive, send)
                    return
                await error_response(request, refused.status, refused.code, refused.message)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _authenticate(request: Request) -> None:
    credentials = await _bearer(request)
    session_id = request.cookies.get(SESSION_COOKIE)
    if credentials is not None and credentials.credentials:
        agent = await agent_for_token(await services(request).pool(), credentials.credentials)
        if agent is None:
            raise unauthenticated("the token is unknown or revoked")
    elif session_id:
        svc = services(request)
        session = await session_for(await svc.pool(), session_id, svc.clock())
        if session is None:
            raise unauthenticated("the desk session is unknown or expired; sign in again")
        check_csrf(request, session.csrf_token)
        request.state.desk_session = session
        agent = session.agent
    else:
        raise unauthenticated()
    request.state.agent = agent
    request.state.agent_id = agent.agent_id


async def current_agent(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Agent:
    """The agent AuthenticateFirst found (`credentials` only puts the bearer scheme in the OpenAPI document)."""
    agent = getattr(request.state, "agent", None)
    if agent is None:  # an app built without the middleware: refuse rather than serve anonymously
        raise unauthenticated()
    return agent


def admits(roles: Iterable[Role]) -> dict[str, Any]:
    """Route keyword arguments: the role check as a dependency and the roles in the OpenAPI document."""
    allowed = frozenset(roles)

    async def check_role(agent: Agent = Depends(current_agent)) -> Agent:
        if agent.role not in allowed:
            raise forbidden(
                "forbidden_role", f"role {agent.role} may not do this (allowed: {', '.join(sorted(allowed))})"
            )
        return agent

    return {
        "dependencies": [Depends(check_role)],
        "openapi_extra": {"x-roles": sorted(allowed)},
        "responses": ERROR_RESPONSES,
    }
