"""Request ids: every HTTP request and socket gets one, and every log line of it carries it.

Every answered HTTP request is counted on ``/metrics`` by route template, method and
status. At debug level it also gets one line whose ``method``, ``path`` (the route
template), ``status`` and ``duration_ms`` are keys of its JSON record, next to the
tenant, device and carer the handler identified.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.observability.http_requests import observe_request, route_template
from server.observability.logs import bound

log = logging.getLogger(__name__)

HEADER = "x-request-id"
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RequestIds:
    """ASGI middleware: take the caller's ``X-Request-ID`` (a proxy's) or make one, bind it
    for logging, and return it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope.get("headers") or [])

        began = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (HEADER.encode(), request_id.encode())]
            await send(message)

        # A socket's frames need no header: its sends go straight through, with no wrapping
        # coroutine per frame on the fan-out path.
        downstream_send = send_with_id if scope["type"] == "http" else send
        with bound(request_id=request_id, tenant=None, device=None, carer=None):
            try:
                await self.app(scope, receive, downstream_send)
            except Exception:
                status = status or 500  # the outermost error handler answers it
                raise
            finally:
                if scope["type"] == "http" and status:
                    _answered(scope, status, time.perf_counter() - began)


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's ``X-Request-ID`` if it is a plausible id, else a new one."""
    given = dict(headers).get(HEADER.encode(), b"").decode("latin-1")
    return given if _ACCEPTED.fullmatch(given) else uuid.uuid4().hex[:16]


def _answered(scope: Scope, status: int, seconds: float) -> None:
    """Count an answered request and, at debug level, log it with its fields as keys."""
    observe_request(scope, status, seconds)
    if log.isEnabledFor(logging.DEBUG):
        route, duration_ms = route_template(scope), round(seconds * 1000, 1)
        fields = {"method": scope["method"], "path": route, "status": status, "duration_ms": duration_ms}
        log.debug("%s %s -> %d in %.1f ms", scope["method"], route, status, duration_ms, extra={"http": fields})
