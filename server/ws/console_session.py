"""The office console's live-notification socket (``/ws/console``).

Authenticated by a staff token in ``console_hello``; follows the feeds of the scopes the
staff member may see (a coordinator: their branch; an admin: every branch and the
tenant-wide feed), resumes from the positions it sends, then receives events live.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.websockets import WebSocket

from protocol.codec import ConsoleClientFrame, decode_console_client_frame
from protocol.console import ConsoleFeedStatus, ConsoleHello, ConsoleWelcome
from protocol.errors import CloseCode, ErrorCode, ProtocolError
from protocol.frames import Heartbeat
from server.clock import to_datetime
from server.console.session import SESSION_COOKIE, same_origin_socket
from server.services import feeds
from server.services.console_feed import visible_scopes
from server.services.errors import Revoked, ServiceError, Unauthorized
from server.services.identity import Staff, authenticate_staff
from server.ws.context import SessionContext
from server.ws.feed_socket import FeedSocket

COOKIE_TOKEN = "cookie"
"""``console_hello.token`` value meaning: use the web console's session cookie."""


class ConsoleSession(FeedSocket):
    hello_type = ConsoleHello

    def __init__(self, websocket: WebSocket, node: SessionContext) -> None:
        super().__init__(websocket, node.settings, node.db, node.clock, feeds.CONSOLE)
        self.node = node
        self.staff: Staff | None = None
        self.scopes: dict[str, str] = {}
        self._token = ""
        self._recheck = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None

    @property
    def staff_key(self) -> str | None:
        return self.staff.user_id if self.staff is not None else None

    def recheck(self) -> None:
        self._recheck.set()

    async def _watch_token(self) -> None:
        """Close the socket (4106) once its token is signed out, revoked or expired:
        at once when the bus says the user's tokens changed, and at every heartbeat
        interval otherwise (a lost bus message, or plain expiry)."""
        node = self.node
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(node.settings.heartbeat_interval_s):
                    await self._recheck.wait()
            self._recheck.clear()
            try:
                async with node.db.read() as conn:
                    await authenticate_staff(conn, self._token, node.clock.now_ms())
            except ServiceError as exc:
                reason = "session ended: " + (exc.message if exc.code != "unauthorized" else "signed out")
                await self.close(CloseCode.SESSION_ENDED, reason[:120])
                return

    @property
    def channels(self) -> list[str]:
        return [feeds.CONSOLE.channel(scope) for scope in self.scopes]

    def decode(self, text: str) -> ConsoleClientFrame:
        return decode_console_client_frame(text)

    async def greet(self, hello: ConsoleHello) -> bool:
        node = self.node
        token = hello.token
        if token == COOKIE_TOKEN:
            # The web console authenticates with its session cookie, from this site only.
            token = self.ws.cookies.get(SESSION_COOKIE, "") if same_origin_socket(self.ws) else ""
        try:
            async with node.db.read() as conn:
                staff = await authenticate_staff(conn, token, node.clock.now_ms())
        except Revoked as exc:
            await self.fail(ErrorCode.AUTH_FAILED, exc.message, CloseCode.AUTH_FAILED)
            return False
        except (Unauthorized, ServiceError) as exc:
            await self.fail(ErrorCode.AUTH_FAILED, exc.message, CloseCode.AUTH_FAILED)
            return False
        self.staff, self._token = staff, token
        async with node.db.write() as conn:
            self.scopes = await visible_scopes(conn, staff)
        async with node.db.read() as conn:
            heads = await feeds.heads(conn, list(self.scopes), feeds.CONSOLE)
        started, _ = self.start_feeds(hello.positions, {scope: heads[scope] for scope in self.scopes})
        statuses = [
            ConsoleFeedStatus(feed=scope, name=name, epoch=s.epoch, head=s.head, action=s.action)
            for scope, name in self.scopes.items()
            for s in (started[scope],)
        ]
        welcome = ConsoleWelcome(
            user_id=staff.user_id,
            role=staff.role,
            server_time=to_datetime(node.clock.now_ms()),
            feeds=statuses,
            heartbeat_interval_s=node.settings.heartbeat_interval_s,
        )
        self.send_welcome(welcome)
        await node.hub.register_console(self)
        self._watch = asyncio.get_running_loop().create_task(self._watch_token(), name="console-token-watch")
        return True

    def on_closed(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        self.node.hub.unregister(self)

    async def handle(self, frame: ConsoleClientFrame) -> None:
        if isinstance(frame, Heartbeat):
            async with self.node.db.read() as conn:
                heads = await feeds.heads(conn, list(self.scopes), feeds.CONSOLE)
            self.streamer.push_heads(heads)
        else:
            raise ProtocolError(ErrorCode.UNEXPECTED_FRAME, "console_hello was already received")
