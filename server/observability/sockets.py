"""Counting WebSocket traffic at the ASGI boundary, outside the socket sessions.

The middleware sees every message the sessions exchange with uvicorn, so connects,
closes by code, frames in and out by type, push latency and ack lag are measured in one
place without the sessions knowing. It also knows whether a socket has a sync request
still unanswered, which a draining node waits for before closing it (:func:`watch_of`).

Our own frames start with their ``type`` (msgspec writes the tag first), which keeps the
per-frame cost to a prefix match; a peer's frame is only decoded when it is an ack.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable

import msgspec
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from protocol import peek
from protocol.acks import covers
from protocol.errors import CloseCode
from server.observability import instruments

log = logging.getLogger(__name__)

SCOPE_KEY = "caresync.socket_watch"
_REQUESTS = frozenset({"sync_request", "clean_sync_request"})
_ANSWERS = frozenset({"sync_response", "clean_sync_response", "error"})
_MAX_PENDING = 10_000
"""Sent changes remembered per socket and feed for ack lag; a device that far behind is cut off anyway."""


class _AckFields(msgspec.Struct):
    feed: str = ""
    seq: int = 0


_ack_decoder = msgspec.json.Decoder(_AckFields)


class FrameReadings:
    """What the watches of one app read from the frames they pass: a frame's type, and a
    change's feed, seq and commit time. A fan-out hands every socket the same text object,
    so each is read once for all of them (the last one read is remembered)."""

    __slots__ = ("_change", "_text", "_type")

    def __init__(self) -> None:
        self._text: str | None = None
        self._type = "binary"
        self._change: tuple[str, str, int, float] | None = None

    def frame_type(self, text: str | None) -> str:
        """A frame's ``type`` ("binary" for none; "other" for a type this protocol version
        does not know, so a peer's words never become a metric label)."""
        if text is self._text:
            return self._type
        if not text:
            return "binary"
        named: str | None = None
        if text.startswith('{"type":"'):  # how msgspec writes every frame: read it in place
            end = text.find('"', 9, 43)
            named = text[9:end] if end > 9 else None
        else:
            named = peek.frame_type(text)
        frame_type = named if named in peek.FRAME_TYPES else "other"
        self._text, self._type = text, frame_type
        return frame_type

    def change_fields(self, text: str) -> tuple[str, int, float] | None:
        """A ``change`` frame's feed, seq and commit time (seconds), or None."""
        last = self._change
        if last is not None and last[0] is text:
            return last[1], last[2], last[3]
        header = peek.change_header(text)
        if header is None:
            return None
        self._change = (text, header.feed, header.seq, header.committed_at.timestamp())
        return header.feed, header.seq, header.committed_at.timestamp()


class SocketWatch:
    """One socket's bookkeeping, and the ``receive``/``send`` the application is given (an
    ASGI socket); a lean device connection calls the ``on_*`` methods itself.

    ``send`` is a plain function returning uvicorn's own awaitable, so a sent frame costs
    no extra coroutine. The structures a socket may never need are made on first use: the
    sent-times of changes when the first change goes out, the event :meth:`answered` waits
    on when a draining node first asks.
    """

    __slots__ = (
        "_answered",
        "_readings",
        "_receive",
        "_send",
        "_sent_at",
        "accepted",
        "close_code",
        "closed",
        "kind",
        "unanswered",
    )

    def __init__(
        self,
        kind: str,
        receive: Receive | None = None,
        send: Send | None = None,
        readings: FrameReadings | None = None,
    ) -> None:
        self.kind = kind
        self._readings = readings or FrameReadings()
        self.accepted = False
        self.closed = False
        self.close_code: int | None = None
        self.unanswered = 0
        """Sync requests received and not yet answered (a response or an error frame)."""
        self._answered: asyncio.Event | None = None
        self._sent_at: dict[str, list[float]] | None = None
        """Per feed, the changes sent and not yet acked, flat: seq, send time, seq, send time…"""
        self._receive = receive
        self._send = send

    async def answered(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until every sync request received has been answered."""
        if not self.unanswered:
            return True
        if self._answered is None:
            self._answered = asyncio.Event()
        try:
            async with asyncio.timeout(timeout_s):
                await self._answered.wait()
        except TimeoutError:
            return False
        return True

    async def receive(self) -> Message:
        assert self._receive is not None
        message = await self._receive()
        kind = message["type"]
        if kind == "websocket.receive":
            self.on_received(message.get("text"))
        elif kind == "websocket.disconnect":
            self.on_close(int(message.get("code", 1005)))
        return message

    def send(self, message: Message) -> Awaitable[None]:
        kind = message["type"]
        if kind == "websocket.send":
            self.on_sent_text(message.get("text"))
        elif kind == "websocket.accept":
            self.on_accepted()
        elif kind == "websocket.close":
            self.on_close(int(message.get("code", 1000)))
        assert self._send is not None
        return self._send(message)

    def on_accepted(self) -> None:
        self.accepted = True
        instruments.SOCKET_CONNECTS.inc(self.kind)

    def on_received(self, text: str | None) -> None:
        """A frame from the peer (``text`` None for a binary frame)."""
        frame_type = self._readings.frame_type(text)
        instruments.FRAMES_IN.inc(self.kind, frame_type)
        if frame_type in _REQUESTS:
            self.unanswered += 1
            if self._answered is not None:
                self._answered.clear()
        elif text and (frame_type == "ack" or (frame_type == "other" and '"ack"' in text)):
            self.on_ack(text)

    def on_sent_text(self, text: str | None) -> None:
        """A frame sent to the peer."""
        frame_type = self._readings.frame_type(text)
        instruments.FRAMES_OUT.inc(self.kind, frame_type)
        if frame_type == "change":
            self.on_sent(text)
        elif self.unanswered and frame_type in _ANSWERS:
            self.unanswered -= 1
            if not self.unanswered and self._answered is not None:
                self._answered.set()

    def on_close(self, code: int) -> None:
        if self.closed or not self.accepted:
            return
        self.closed = True
        self.close_code = code
        instruments.SOCKET_CLOSES.inc(self.kind, str(code))
        if code == CloseCode.SLOW_CONSUMER:
            instruments.SLOW_CONSUMER_CLOSES.inc(self.kind)

    def on_sent(self, text: str | None) -> None:
        fields = self._readings.change_fields(text) if text else None
        if fields is None:
            return
        feed, seq, committed = fields
        now = time.time()
        instruments.PUSH_LATENCY.observe(max(0.0, now - committed))
        sent_at = self._sent_at
        if sent_at is None:
            sent_at = self._sent_at = {}
        pending = sent_at.get(feed)
        if pending is None:
            sent_at[feed] = [seq, now]
        elif len(pending) < _MAX_PENDING * 2:
            pending += (seq, now)

    def on_ack(self, text: str) -> None:
        try:
            ack = _ack_decoder.decode(text)
        except msgspec.DecodeError:
            return
        pending = self._sent_at.get(ack.feed) if self._sent_at else None
        if not pending:
            return
        now = time.time()
        covered = 0
        while covered < len(pending) and covers(ack.seq, int(pending[covered])):
            instruments.ACK_LAG.observe(max(0.0, now - pending[covered + 1]))
            covered += 2
        del pending[:covered]


Endpoint = Callable[[WebSocket], Awaitable[None]]


class SocketMetrics:
    """ASGI middleware counting the WebSocket traffic of the paths in ``kinds``.

    A counted socket's endpoint (the app's ``WebSocketRoute`` for the path, found once) is
    called from here directly, not through the exception middleware and the router below:
    their coroutines would otherwise stay suspended for the whole life of every socket
    (about 4 KiB each at the last count) and wrap its sends, and for a socket they do
    nothing the endpoint needs (it handles its own errors; Host checks and request ids are
    above this middleware)."""

    def __init__(self, app: ASGIApp, kinds: dict[str, str]) -> None:
        self.app = app
        self.kinds = kinds
        self._endpoints: dict[str, Endpoint | None] = {}
        self._readings = FrameReadings()
        """Shared by this app's watches: a fan-out's text is read once for every socket."""

    def _endpoint(self, scope: Scope) -> Endpoint | None:
        path: str = scope.get("path", "")
        if path not in self._endpoints:
            routes = getattr(scope.get("app"), "routes", ())
            found = [r.endpoint for r in routes if isinstance(r, WebSocketRoute) and r.path == path]
            self._endpoints[path] = found[0] if len(found) == 1 and inspect.isfunction(found[0]) else None
        return self._endpoints[path]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = self.kinds.get(scope.get("path", "")) if scope["type"] == "websocket" else None
        if kind is None:
            await self.app(scope, receive, send)
            return
        socket = SocketWatch(kind, receive, send, self._readings)
        scope[SCOPE_KEY] = socket
        endpoint = self._endpoint(scope)
        try:
            if endpoint is not None:
                await endpoint(WebSocket(scope, socket.receive, socket.send))
            else:
                await self.app(scope, socket.receive, socket.send)
        finally:
            socket.on_close(1006)
            if socket.accepted:  # the session's ids (tenant, device, carer) are bound by now
                log.debug("%s socket closed with %s", kind, socket.close_code)


def watch_of(scope: Scope) -> SocketWatch | None:
    """The watch the middleware keeps for the socket of ``scope`` (None outside it)."""
    found = scope.get(SCOPE_KEY)
    return found if isinstance(found, SocketWatch) else None
