"""What the browser is told and what it must show back: the security headers of every answer, the desk's
session cookie, and the CSRF check of a cookie-authenticated unsafe request.

Content-Security-Policy: no inline script anywhere (`script-src 'self'`), every asset from the app itself.
The one exception is /docs, whose Swagger UI page (FastAPI's) starts itself with one inline script: that
script, and only it, is allowed by its hash (billing.entrypoints.api.desk.docs); its styles are inline too.

CSRF: the session cookie is SameSite=Strict, so a cross-site request does not carry it at all; and a request
that does carry it and changes something must also send the session's synchronizer token in X-CSRF-Token
(the pages put it in every htmx request) and, when the browser says where it comes from (Origin), come from
this origin. A bearer-token client is unaffected: a browser never sends a bearer token on its own.
"""

from __future__ import annotations

import hmac

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billing.entrypoints.api.errors import ApiError

SESSION_COOKIE = "billing_desk"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

STRICT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
    " font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def docs_csp(script_hash: str) -> str:
    return (
        f"default-src 'none'; script-src 'self' '{script_hash}'; style-src 'self' 'unsafe-inline';"
        " img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none';"
        " base-uri 'none'"
    )


class SecurityHeaders:
    """ASGI middleware: the CSP and its companions on every answer (JSON included: harmless, and one rule)."""

    def __init__(self, app: ASGIApp, docs_policy: str) -> None:
        self.app, self.docs_policy = app, docs_policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.docs_policy if scope["path"] == "/docs" else STRICT_CSP

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = policy
                headers["X-Content-Type-Options"] = "nosniff"
                # same-origin, not no-referrer: under no-referrer Chromium sends `Origin: null` on form posts, and the
                # origin check would refuse the desk's own sign-in.
                headers["Referrer-Policy"] = "same-origin"
                headers["X-Frame-Options"] = "DENY"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
            await send(message)

        await self.app(scope, receive, with_headers)


def own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def check_same_origin(request: Request) -> None:
    """A browser's unsafe request names its origin; one from another site is refused (login CSRF included)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != own_origin(request):
        raise ApiError(403, "cross_site_request", "requests from another site are refused")
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise ApiError(403, "cross_site_request", "requests from another site are refused")


def check_csrf(request: Request, expected: str) -> None:
    """A cookie-authenticated unsafe request: same origin, and the session's token in X-CSRF-Token."""
    if request.method in SAFE_METHODS:
        return
    check_same_origin(request)
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise ApiError(403, "csrf_refused", "the page's CSRF token is missing or wrong; reload the page")


def cookie_secure(request: Request) -> bool:
    """Secure when the page came over https (directly or through a proxy that says so)."""
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"
