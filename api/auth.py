"""Who is calling (a bearer token per agent) and what their role lets them do.

Each route declares the roles it admits with `admits(...)`: that both adds the check and writes the roles into
the OpenAPI document (`x-roles`), where the route-table test reads them, so a new route cannot skip the check
unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.agent_store import Agent, agent_for_token
from api.errors import ERROR_RESPONSES, forbidden, unauthenticated
from api.roles import Role
from api.services import ApiServices

_bearer = HTTPBearer(auto_error=False, description="The agent's token from `billing agent create`.")


def services(request: Request) -> ApiServices:
    return request.app.state.services


async def current_agent(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Agent:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise unauthenticated()
    agent = await agent_for_token(await services(request).pool(), credentials.credentials)
    if agent is None:
        raise unauthenticated("the token is unknown or revoked")
    request.state.agent_id = agent.agent_id
    return agent


def admits(roles: Iterable[Role]) -> dict[str, Any]:
    """Route keyword arguments: the role check as a dependency and the roles in the OpenAPI document."""
    allowed = frozenset(roles)

    async def check_role(agent: Agent = Depends(current_agent)) -> Agent:
        if agent.role not in allowed:
            raise forbidden("forbidden_role", f"role {agent.role} may not do this (allowed: {', '.join(sorted(allowed))})")
        return agent

    return {
        "dependencies": [Depends(check_role)],
        "openapi_extra": {"x-roles": sorted(allowed)},
        "responses": ERROR_RESPONSES,
    }
