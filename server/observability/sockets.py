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
import logging
import re
import time
from collections import deque
from datetime import datetime
from typing import Any

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from protocol.errors import CloseCode
from server.observability import metrics

_TYPE = re.compile(r'\s*\{\s*"type"\s*:\s*"([a-z_]{1,32})"')
_CHANGE = re.compile(r'\{"type":"change","feed":"([^"]+)","epoch":\d+,"seq":(\d+),"committed_at":"([^"]+)"')
log = logging.getLogger(__name__)

SCOPE_KEY = "caresync.socket_watch"
_REQUESTS = frozenset({"sync_request", "clean_sync_request"})
_ANSWERS = frozenset({"sync_response", "clean_sync_response", "error"})
_MAX_PENDING = 10_000
"""Sent changes remembered per socket for ack lag; a device that far behind is cut off anyway."""


class _AckFields(msgspec.Struct):
    feed: str = ""
    seq: int = 0


_ack_decoder = msgspec.json.Decoder(_AckFields)


def _frame_type(text: str | None) -> str:
    if not text:
        return "binary"
    if text.startswith('{"type":"'):  # how msgspec writes every frame: no regex needed
        end = text.find('"', 9, 43)
        if end > 9:
            return text[9:end]
    found = _TYPE.match(text)
    return found.group(1) if found else "other"


_counters: dict[tuple[Any, str, str], Any] = {}


def _count(counter: Any, kind: str, frame_type: str) -> None:
    """``counter.labels(kind, frame_type).inc()`` with the labelled child cached (per frame)."""
    child = _counters.get((counter, kind, frame_type))
    if child is None:
        child = _counters[(counter, kind, frame_type)] = counter.labels(kind, frame_type)
    child.inc()


_last_change: tuple[str, str, int, float] | None = None
"""The last change frame read (its text, feed, seq and commit time): a fan-out sends the
same text object to every socket, so it is parsed once."""


def _change_fields(text: str) -> tuple[str, int, float] | None:
    global _last_change
    last = _last_change
    if last is not None and last[0] is text:
        return last[1], last[2], last[3]
    found = _CHANGE.match(text)
    if found is None:
        return None
    try:
        committed = datetime.fromisoformat(found.group(3)).timestamp()
    except ValueError:
        return None
    _last_change = (text, found.group(1), int(found.group(2)), committed)
    return found.group(1), int(found.group(2)), committed


class SocketWatch:
    """One socket's bookkeeping: when each change went out, unanswered sync requests,
    whether its close was counted."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.accepted = False
        self.closed = False
        self.close_code: int | None = None
        self.sent_at: dict[str, deque[tuple[int, float]]] = {}
        self.unanswered = 0
        """Sync requests received and not yet answered (a response or an error frame)."""
        self._answered = asyncio.Event()
        self._answered.set()

    async def answered(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until every sync request received has been answered."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._answered.wait()
        except TimeoutError:
            return False
        return True

    def on_frame_in(self, frame_type: str) -> None:
        if frame_type in _REQUESTS:
            self.unanswered += 1
            self._answered.clear()

    def on_frame_out(self, frame_type: str) -> None:
        if frame_type in _ANSWERS and self.unanswered:
            self.unanswered -= 1
            if not self.unanswered:
                self._answered.set()

    def on_close(self, code: int) -> None:
        if self.closed or not self.accepted:
            return
        self.closed = True
        self.close_code = code
        metrics.SOCKET_CLOSES.labels(self.kind, str(code)).inc()
        if code == CloseCode.SLOW_CONSUMER:
            metrics.SLOW_CONSUMER_CLOSES.labels(self.kind).inc()

    def on_sent(self, text: str) -> None:
        fields = _change_fields(text)
        if fields is None:
            return
        feed, seq, committed = fields
        metrics.PUSH_LATENCY.observe(max(0.0, time.time() - committed))
        pending = self.sent_at.setdefault(feed, deque())
        if len(pending) < _MAX_PENDING:
            pending.append((seq, time.monotonic()))

    def on_ack(self, text: str) -> None:
        try:
            ack = _ack_decoder.decode(text)
        except msgspec.DecodeError:
            return
        pending = self.sent_at.get(ack.feed)
        now = time.monotonic()
        while pending and pending[0][0] <= ack.seq:
            _seq, sent = pending.popleft()
            metrics.ACK_LAG.observe(now - sent)


class SocketMetrics:
    """ASGI middleware counting the WebSocket traffic of the paths in ``kinds``."""

    def __init__(self, app: ASGIApp, kinds: dict[str, str]) -> None:
        self.app = app
        self.kinds = kinds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = self.kinds.get(scope.get("path", "")) if scope["type"] == "websocket" else None
        if kind is None:
            await self.app(scope, receive, send)
            return
        socket = SocketWatch(kind)
        scope[SCOPE_KEY] = socket

        async def counted_receive() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive":
                text: Any = message.get("text")
                frame_type = _frame_type(text)
                _count(metrics.FRAMES_IN, kind, frame_type)
                socket.on_frame_in(frame_type)
                if frame_type == "ack" or (frame_type == "other" and text and '"ack"' in text):
                    socket.on_ack(text)
            elif message["type"] == "websocket.disconnect":
                socket.on_close(int(message.get("code", 1005)))
            return message

        async def counted_send(message: Message) -> None:
            if message["type"] == "websocket.send":
                text = message.get("text")
                frame_type = _frame_type(text)
                _count(metrics.FRAMES_OUT, kind, frame_type)
                socket.on_frame_out(frame_type)
                if frame_type == "change" and text:
                    socket.on_sent(text)
            elif message["type"] == "websocket.accept":
                socket.accepted = True
                metrics.SOCKET_CONNECTS.labels(kind).inc()
            elif message["type"] == "websocket.close":
                socket.on_close(int(message.get("code", 1000)))
            await send(message)

        try:
            await self.app(scope, counted_receive, counted_send)
        finally:
            socket.on_close(1006)
            if socket.accepted:  # the session's ids (tenant, device, carer) are bound by now
                log.debug("%s socket closed with %s", kind, socket.close_code)


def watch_of(scope: Scope) -> SocketWatch | None:
    """The watch the middleware keeps for the socket of ``scope`` (None outside it)."""
    found = scope.get(SCOPE_KEY)
    return found if isinstance(found, SocketWatch) else None
