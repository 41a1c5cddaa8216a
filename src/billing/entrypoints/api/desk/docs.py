"""/docs: FastAPI's Swagger UI page with its script and style served by this app (vendored from swagger-ui-dist,
static/vendor/), so it works on a network without internet. The page starts Swagger UI with one inline script;
the CSP of /docs allows exactly that script by its SHA-256 (billing.entrypoints.api.desk.security.docs_csp)."""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

_INLINE = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def docs_page(app: FastAPI) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{app.title} - documentation",
        swagger_js_url="/static/vendor/swagger-ui-bundle.js",
        swagger_css_url="/static/vendor/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
    )


def inline_script_hash(page: HTMLResponse) -> str:
    """The CSP source of the page's one inline script ('sha256-...')."""
    scripts = _INLINE.findall(bytes(page.body).decode())
    if len(scripts) != 1:
        raise RuntimeError(f"the Swagger UI page has {len(scripts)} inline scripts; the CSP allows exactly one")
    return "sha256-" + base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()


def install_docs(app: FastAPI) -> str:
    """Serve /docs (built with docs_url=None) and return the hash its CSP must allow."""
    page = docs_page(app)

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        return docs_page(request.app)

    return inline_script_hash(page)
