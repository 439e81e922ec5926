"""Rendering console pages: Jinja2 with autoescaping, times in the tenant's zone."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from server.console.session import CSRF_COOKIE, cookies_secure, csrf_of, new_csrf_token

_env = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _local(moment: datetime | None, zone: str, fmt: str = "%a %d %b %H:%M") -> str:
    if moment is None:
        return "never"
    return moment.astimezone(ZoneInfo(zone)).strftime(fmt)


_env.filters["local"] = _local


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """A page, with a CSRF token for its forms (set as a cookie if the browser has none)."""
    token = csrf_of(request) or new_csrf_token()
    body = _env.get_template(template).render(request=request, csrf_token=token, **context)
    response = HTMLResponse(body, status_code=status)
    if not csrf_of(request):
        response.set_cookie(
            CSRF_COOKIE, token, httponly=False, samesite="strict", path="/console", secure=cookies_secure(request)
        )
    response.headers["cache-control"] = "no-store"  # pages name carers and clients: keep them out of caches
    response.headers["content-security-policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'"
    )
    response.headers["x-content-type-options"] = "nosniff"
    return response
