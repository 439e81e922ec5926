"""Console sessions: a cookie holding the staff token, and CSRF protection.

The session cookie is HttpOnly and SameSite=Lax. Every state-changing request must carry
the CSRF token (double submit: a readable cookie echoed in a form field or the
``X-CSRF-Token`` header) and, when the browser sends one, an ``Origin`` of this site.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection, Request

from server.console.notices import NOTICES
from server.node import Node
from server.services.errors import Forbidden, Unauthorized
from server.services.identity import Staff, authenticate_staff

SESSION_COOKIE = "caresync_session"
CSRF_COOKIE = "caresync_csrf"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(Exception):
    """No valid session: send the browser to the sign-in page with notice ``code``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code
        self.reason = NOTICES[code]


async def staff_from_cookie(connection: HTTPConnection, node: Node) -> Staff:
    token = connection.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired("sign-in")
    try:
        async with node.db.read() as conn:
            staff = await authenticate_staff(conn, token, node.clock.now_ms())
    except Unauthorized as exc:
        raise SignInRequired("expired" if exc.code == "expired" else "sign-in") from exc
    if staff.credential_id is not None:
        await node.staff_auth.tokens.note_use(staff.credential_id, staff.last_used_ms)
    return staff


def cookies_secure(connection: HTTPConnection) -> bool:
    """Whether console cookies get the ``Secure`` flag (the ``secure_cookies`` setting):
    ``always``, ``never``, or ``auto``: when this request came over HTTPS, directly or
    through a trusted proxy that said so in ``X-Forwarded-Proto``."""
    node: Node = connection.app.state.node
    mode = node.settings.secure_cookies.strip().lower()
    if mode in ("always", "never"):
        return mode == "always"
    return connection.url.scheme in ("https", "wss")


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_of(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE, "")


async def check_csrf(request: Request, submitted: str | None = None) -> None:
    """Refuse cross-site requests: same origin, and the token from the cookie echoed back."""
    if not origin_allowed(request):
        raise Forbidden("cross-site request refused")
    expected = request.cookies.get(CSRF_COOKIE, "")
    given = submitted if submitted is not None else request.headers.get(CSRF_HEADER, "")
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise Forbidden("missing or wrong CSRF token; reload the page and try again")


def same_origin_socket(connection: HTTPConnection) -> bool:
    """A cookie-authenticated WebSocket must come from this site (no cross-site hijack)."""
    return origin_allowed(connection)


def origin_allowed(connection: HTTPConnection) -> bool:
    """No ``Origin``, one naming this site (its ``Host``), or one the operator allowed with
    ``--allowed-origins`` (e.g. the public address when a proxy does not pass ``Host`` on)."""
    origin = connection.headers.get("origin")
    if origin is None or urlsplit(origin).netloc == connection.headers.get("host", ""):
        return True
    node: Node = connection.app.state.node
    return origin.rstrip("/") in {allowed.rstrip("/") for allowed in node.settings.allowed_origins}
