"""Checks every HTTP request and WebSocket upgrade passes before any route sees it.

- **Host.** Only the names in the ``allowed_hosts`` setting are served (400 otherwise),
  so a web page on another site cannot reach a server on loopback or a LAN through DNS
  rebinding. The default fits ``caresync serve`` on loopback; a deployment lists the
  names its users and load balancer use.
- **Body size.** A request body over :data:`MAX_BODY_BYTES` is refused with 413: at once
  when ``Content-Length`` says so, and as soon as the limit is passed when the body is
  streamed (chunked), so no request makes the server hold more than the limit.
- **Hang-ups.** A client that hangs up before its body is complete ends its request
  quietly (:class:`ClientGone`): nothing is answered and nothing is logged, wherever the
  body was being read.
- **Parameters.** A path or query string (names and values, once percent-decoded) holding
  a control character (U+0000 to U+001F, U+007F to U+009F) is refused with 422
  ``invalid_input`` before any route sees it: ids are printable, and PostgreSQL cannot
  even compare text holding U+0000. Every route, new ones included, gets it for free.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import unquote_plus

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from protocol import MAX_FRAME_BYTES
from protocol.codec import encode
from protocol.errors import ErrorCode, ProtocolError
from server.api.host_guard import HostGuard
from server.services.errors import InvalidInput

MAX_BODY_BYTES = MAX_FRAME_BYTES
"""The largest request body: a device's sync request is the largest legitimate one."""


class BodyTooLarge(ProtocolError):
    """Raised while reading a body past the limit: endpoints that turn protocol errors
    into answers give 413 themselves; for the others, :class:`BodyLimit` does."""

    def __init__(self, limit: int) -> None:
        super().__init__(ErrorCode.FRAME_TOO_LARGE, f"request body over {limit} bytes")


class ClientGone(BaseException):
    """The client hung up before its request body was complete.

    Raised by :class:`BodyLimit` where Starlette would raise ``ClientDisconnect`` while a
    body is read (``request.body()``, ``request.form()``, any reader to come). A
    ``BaseException``, like ``asyncio.CancelledError``: the request is over, not failed, so
    no ``except Exception`` on its way out (an endpoint's catch-all, Starlette's 500
    handler) answers or logs it; :class:`BodyLimit` ends the request there.
    """


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = encode({"error": {"code": code, "message": message}})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes (413 ``frame_too_large``)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body over {self.limit} bytes"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _refuse(send, 400, "bad_request", "Content-Length is not a number")
                return
            if length > self.limit:
                await _refuse(send, 413, ErrorCode.FRAME_TOO_LARGE, too_large)
                return
        received = 0
        body_complete = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, body_complete
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
                body_complete = not message.get("more_body", False)
            elif message["type"] == "http.disconnect" and not body_complete:
                raise ClientGone
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge:
            if not started:
                await _refuse(send, 413, ErrorCode.FRAME_TOO_LARGE, too_large)
        except ClientGone:
            return  # no one is left to answer


CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""Characters no path or query parameter may hold (Unicode category Cc)."""


def control_character_in(scope: Scope) -> bool:
    """Whether the request's decoded path or query string holds a control character."""
    if CONTROL_CHARACTERS.search(scope["path"]):
        return True
    query: bytes = scope.get("query_string", b"")
    return bool(query) and CONTROL_CHARACTERS.search(unquote_plus(query.decode("latin-1"))) is not None


class ParameterGuard:
    """Refuse a request whose path or query parameters hold a control character (422)."""

    message = "path and query parameters must not contain control characters (U+0000 to U+001F, U+007F to U+009F)"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and control_character_in(scope):
            await _refuse(send, InvalidInput.status, InvalidInput.code, self.message)
            return
        await self.app(scope, receive, send)


def internal_caller(request: Request) -> bool:
    """Whether the caller is in the ``internal_networks`` setting (operators, probes,
    Prometheus): only they see node ids, counts and failure reasons. Behind a trusted
    proxy the caller is the address it forwarded."""
    networks: Sequence[str] = request.app.state.node.settings.internal_networks
    try:
        address = ipaddress.ip_address(request.client.host if request.client else "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)


def request_guards(allowed_hosts: Sequence[str]) -> list[Middleware]:
    """The middleware, outermost first: the Host check, the parameter check, the body limit."""
    return [
        Middleware(HostGuard, allowed_hosts=list(allowed_hosts) or ["127.0.0.1"]),
        Middleware(ParameterGuard),
        Middleware(BodyLimit, limit=MAX_BODY_BYTES),
    ]
