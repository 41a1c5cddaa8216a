"""Jinja2 templates of the desk and the wall (package files, autoescaped) and the filters they share."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from billing.money import currency_exponent

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), enable_async=False)


def money(minor: int | None, currency: str | None = None) -> str:
    """Minor units as the agent reads them, with the currency's own number of decimals (2 when not said)."""
    if minor is None:
        return "-"
    exponent = currency_exponent(currency) if currency else 2
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(int(minor)), 10**exponent)
    digits = f".{fraction:0{exponent}d}" if exponent else ""
    return f"{sign}{whole:,}{digits}" + (f" {currency}" if currency else "")


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    total = int(value)
    return f"{total // 60}:{total % 60:02d}" if total >= 60 else f"{total} s"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%H:%M:%S")
    return str(value)[11:19] if isinstance(value, str) and len(value) >= 19 else str(value or "-")


_env.filters.update(money=money, seconds=seconds, percent=percent, when=when)


def render(
    request: Request, name: str, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    session = getattr(request.state, "desk_session", None)
    base = {"agent": session.agent if session else None, "csrf": session.csrf_token if session else None}
    html = _env.get_template(name).render(**base, **context)
    return HTMLResponse(html, status_code=status_code, headers=headers)
