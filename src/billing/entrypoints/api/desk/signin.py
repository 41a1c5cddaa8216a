"""Sign in with the agent's token (posted once, in the form body, never in a URL) for an HttpOnly, SameSite=Strict
cookie session (Secure over https); sign out ends it. The token itself is never stored by the browser."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from billing.entrypoints.api.audit import note_result
from billing.entrypoints.api.auth import services
from billing.entrypoints.api.desk.security import SESSION_COOKIE, check_same_origin, cookie_secure
from billing.entrypoints.api.desk.views import render
from billing.entrypoints.api.services import ApiServices
from billing.identity import sessions
from billing.identity.rules.roles import Role

router = APIRouter(include_in_schema=False)


@router.get("/signin", name="desk.signin_page")
async def signin_page(request: Request) -> HTMLResponse:
    return render(request, "signin.html", error=None)


@router.post("/signin", name="desk.signin")
async def signin(
    request: Request,
    token: str = Form(max_length=200, pattern=r"^\s*[A-Za-z0-9_\-]+\s*$"),
    svc: ApiServices = Depends(services),
) -> Response:
    check_same_origin(request)  # a sign-in posted from another site (login CSRF) is refused
    pool = await svc.pool()
    made = await sessions.sign_in(pool, token.strip(), timedelta(seconds=svc.settings.desk_session_s), svc.clock())
    if made is None:
        note_result(request, "refused")
        return render(request, "signin.html", status_code=401, error="That token is unknown or revoked.")
    session_id, session = made
    request.state.agent_id = session.agent.agent_id
    target = "/wall" if session.agent.role in (Role.SUPERVISOR, Role.ANALYST) else "/desk"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=svc.settings.desk_session_s,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request),
        path="/",
    )
    return response


@router.post("/signout", name="desk.signout")
async def signout(request: Request, svc: ApiServices = Depends(services)) -> Response:
    """Authenticated (and CSRF-checked) like any action; the session row is deleted, the cookie cleared."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await sessions.sign_out(await svc.pool(), session_id)
    response = Response(status_code=204, headers={"HX-Redirect": "/signin"})
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
