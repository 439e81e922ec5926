"""Request ids: every HTTP request and socket gets one, and every log line of it carries it.

At debug level each HTTP request also gets one line (method, path, status, time), which
carries the tenant, device and carer the handler identified.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
        given = dict(scope.get("headers") or []).get(HEADER.encode(), b"").decode("latin-1")
        request_id = given if _ACCEPTED.fullmatch(given) else uuid.uuid4().hex[:16]

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
            finally:
                if scope["type"] == "http" and log.isEnabledFor(logging.DEBUG):
                    elapsed_ms = (time.perf_counter() - began) * 1000
                    log.debug("%s %s -> %d in %.1f ms", scope["method"], scope["path"], status, elapsed_ms)
