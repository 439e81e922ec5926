"""The Host check: Starlette's trusted-host middleware decides, and its refusal says which
setting would allow the host (its own answer is a bare "Invalid host header")."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REFUSAL = (
    "Invalid host header: this server answers only to the host names in CARESYNC_ALLOWED_HOSTS "
    "(--allowed-hosts); add this one there to serve it.\n"
)
_PASSED = "caresync.host_allowed"


async def _mark_passed(scope: Scope, receive: Receive, send: Send) -> None:
    scope[_PASSED] = True


async def _discard(message: Message) -> None:
    pass


class HostGuard:
    """Serves only the ``allowed_hosts``; refuses others with 400 naming the setting."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self._check = TrustedHostMiddleware(_mark_passed, allowed_hosts=list(allowed_hosts), www_redirect=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        await self._check(scope, receive, _discard)
        if scope.pop(_PASSED, False):
            await self.app(scope, receive, send)
        else:
            await PlainTextResponse(REFUSAL, status_code=400)(scope, receive, send)


class HostCheck:
    """The same check outside ASGI, for a WebSocket upgrade answered before any app sees it
    (:mod:`server.ws.lean.layer`): Starlette's middleware decides, run to its end at once
    (it awaits nothing on its way to the verdict)."""

    __slots__ = ("_check",)

    def __init__(self, allowed_hosts: Sequence[str]) -> None:
        self._check = TrustedHostMiddleware(_mark_passed, allowed_hosts=list(allowed_hosts), www_redirect=False)

    def allows(self, headers: list[tuple[bytes, bytes]]) -> bool:
        scope: Scope = {"type": "websocket", "headers": headers, "path": "/", "query_string": b""}
        step = self._check(scope, _no_receive, _discard)
        try:
            step.send(None)
        except StopIteration:
            return bool(scope.get(_PASSED, False))
        step.close()
        raise RuntimeError("the host check waited for something")


async def _no_receive() -> Message:
    return {"type": "websocket.disconnect"}
