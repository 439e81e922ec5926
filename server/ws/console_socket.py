"""The office console's live-notification socket (``/ws/console``).

Authenticated by a staff token in ``console_hello``; follows the feeds of the scopes the
staff member may see (a coordinator: their branch; an admin: every branch and the
tenant-wide feed), resumes from the positions it sends, then receives events live.

What one staff token can cost the node is bounded (docs/security.md): heartbeats are
answered from the node's memory of feed heads, frames beyond the socket's budget are
refused undecoded (``rate_limited``, then close 4005, as for devices), and a user holds
at most ``console_sockets_per_user`` sockets on a node (one more: ``too_many_sockets``,
close 4006).
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.websockets import WebSocket

from protocol.codec import ConsoleClientFrame, decode_console_client_frame
from protocol.console import ConsoleFeedStatus, ConsoleHello, ConsoleWelcome
from protocol.errors import CloseCode, ErrorCode, ProtocolError
from protocol.frames import FeedPosition, Heartbeat
from server.clock import to_datetime
from server.console.session import SESSION_COOKIE, same_origin_socket
from server.ids import hash_token
from server.services import feeds
from server.services.console_feed import visible_scopes
from server.services.errors import Revoked, ServiceError, Unauthorized
from server.services.identity import Staff, authenticate_staff
from server.services.token_bucket import Rate
from server.ws.context import SocketContext
from server.ws.feed_socket import FeedSocket
from server.ws.frame_budget import FrameBudget, Verdict

COOKIE_TOKEN = "cookie"
"""``console_hello.token`` value meaning: use the web console's session cookie."""


class ConsoleSocket(FeedSocket):
    hello_type = ConsoleHello

    def __init__(self, websocket: WebSocket, node: SocketContext) -> None:
        super().__init__(websocket, node.settings, node.db, node.clock, feeds.CONSOLE, node.hub.messages)
        self.node = node
        self.staff: Staff | None = None
        self.scopes: dict[str, str] = {}
        self._token = ""
        self._recheck = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None
        self._place_of: str | None = None
        """The user whose console-socket place this socket holds, once it holds one."""
        settings = node.settings
        self._budget = FrameBudget(Rate(settings.console_frames_per_s, settings.console_frame_burst), self.opened_at_ms)

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

    def decode(self, text: str | bytes) -> ConsoleClientFrame | OverBudget:
        """The frame, or, beyond the socket's frame budget, a note of that (not decoded)."""
        verdict = self._budget.judge(len(text), self.node.clock.now_ms())
        if verdict is not Verdict.ADMIT:
            return OverBudget(verdict)
        return decode_console_client_frame(text)

    async def greet(self, hello: ConsoleHello) -> bool:
        node = self.node
        token = hello.token
        if token == COOKIE_TOKEN:
            # The web console authenticates with its session cookie, from this site only.
            ws = self.ws
            token = ws.cookies.get(SESSION_COOKIE, "") if ws is not None and same_origin_socket(ws) else ""
        token_hash = hash_token(token)
        if await self.refused_while_cooling_off(node.cooling_off, token_hash):
            return False
        if node.console_sockets.full_for(token_hash):
            await self._refuse_over_cap()
            return False
        try:
            async with node.db.read() as conn:
                staff = await authenticate_staff(conn, token, node.clock.now_ms())
        except Revoked as exc:
            await self.fail(ErrorCode.AUTH_FAILED, exc.message, CloseCode.AUTH_FAILED)
            return False
        except (Unauthorized, ServiceError) as exc:
            await self.fail(ErrorCode.AUTH_FAILED, exc.message, CloseCode.AUTH_FAILED)
            return False
        if not node.console_sockets.take(staff.user_id, token_hash):
            await self._refuse_over_cap()
            return False
        self._place_of = staff.user_id
        try:
            return await self._greet_as(staff, token, hello)
        except BaseException:
            self._give_back_place()
            raise

    async def _refuse_over_cap(self) -> None:
        message = f"this user already has {self.node.console_sockets.per_user} console sockets open on this node"
        await self.fail(ErrorCode.TOO_MANY_SOCKETS, message, CloseCode.TOO_MANY_SOCKETS)

    async def _greet_as(self, staff: Staff, token: str, hello: ConsoleHello) -> bool:
        """Follow the scopes' feeds, welcome with heads consistent with that, settle (the
        device's order: nothing committed during the greeting is missed)."""
        node = self.node
        self.staff, self._token = staff, token
        async with node.db.write() as conn:
            self.scopes = await visible_scopes(conn, staff)
        channels = {scope: feeds.CONSOLE.channel(scope) for scope in self.scopes}

        async def greeting_heads(_known: dict[str, feeds.Head] | None) -> dict[str, feeds.Head]:
            async with node.db.read() as conn:
                return await feeds.heads(conn, list(self.scopes), feeds.CONSOLE)

        heads = await node.hub.follow(self, channels, greeting_heads)
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
        node.hub.settle(self, channels, heads)
        self._watch = asyncio.get_running_loop().create_task(self._watch_token(), name="console-token-watch")
        return True

    def on_closed(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        self._give_back_place()
        self.node.hub.unregister(self)

    def _give_back_place(self) -> None:
        if self._place_of is not None:
            self.node.console_sockets.give_back(self._place_of)
            self._place_of = None

    async def on_frame(self, frame: ConsoleClientFrame | OverBudget) -> None:
        if isinstance(frame, OverBudget):
            await self._refuse(frame)
        elif isinstance(frame, Heartbeat):
            self.streamer.push_heads(await self._heads())
        else:
            raise ProtocolError(ErrorCode.UNEXPECTED_FRAME, "console_hello was already received")

    async def _heads(self) -> dict[str, feeds.Head]:
        """Heads from the node's memory; the database only on a miss or an epoch change."""
        channels = {scope: feeds.CONSOLE.channel(scope) for scope in self.scopes}
        heads = self.node.hub.heads.known(channels)
        if heads is not None and self.streamer.session.same_epochs(_positions(heads)):
            return heads
        async with self.node.db.read() as conn:
            heads = await feeds.heads(conn, list(self.scopes), feeds.CONSOLE)
        for scope, head in heads.items():  # followed since the greeting: kept current from here
            self.node.hub.heads.store(channels[scope], head)
        return heads

    async def _refuse(self, frame: OverBudget) -> None:
        """A frame beyond the budget: not handled; the console is told, and closed if it keeps on."""
        limit = f"{self.settings.console_frames_per_s:g} frames a second"
        if frame.verdict is Verdict.CLOSE:
            await self.close_for_flooding(self.node.cooling_off, hash_token(self._token), limit)
            return
        self.send_error(ErrorCode.RATE_LIMITED, f"frame not handled: over {limit}; send it again later")


class OverBudget:
    """A frame the socket's budget refused, not decoded."""

    __slots__ = ("verdict",)

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict


def _positions(heads: dict[str, feeds.Head]) -> list[FeedPosition]:
    return [FeedPosition(feed=f, epoch=h.epoch, seq=h.seq) for f, h in heads.items()]
