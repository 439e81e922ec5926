"""Ordered delivery of one socket's feeds: the adapter around :class:`ServerFeedSession`.

Everything a socket sends leaves in the order it was handed over: live pushes, replays
and responses. What to send for a live push, a heads read or a page from the store is
decided by the session (``protocol/session.py``); this module only runs its commands:
send bytes, read the store, close.

A frame for a socket with nothing queued goes straight to its :class:`Wire` in the
caller's step (the fan-out loop's, usually): no queue, no task hop. A write completes
without waiting while the connection's write buffer is below its high-water mark, so
this is the common case. Only when a send has to wait (the peer is not reading fast
enough) or a command needs the store does a writer task take over; everything handed
over from then on queues behind it, and the task ends when the queue is empty, so an
idle socket holds no task. Slow consumers are bounded twice: a queue over
``queue_limit`` items, or a send blocked for ``stall_s`` seconds, closes the socket
with 4001. The stall clock runs only around a send that actually blocked, not around
every send.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect

from protocol.codec import encode
from protocol.errors import CloseCode, ErrorCode
from protocol.frames import Error, Heartbeat, ResyncRequired
from protocol.session import (
    AnnounceHeads,
    AnnouncementDue,
    Close,
    HeadRead,
    HeadsRead,
    LivePublished,
    PageRead,
    ReadStore,
    SendError,
    SendHeartbeat,
    SendLive,
    SendResyncRequired,
    SendStored,
    ServerCommand,
    ServerFeedSession,
)
from server.clock import Clock, to_datetime
from server.periodic import backoff_s
from server.services import feeds
from server.store.database import Database
from server.store.outage import StoreUnavailable
from server.tunables import STREAMER_FILL_PAGE as FILL_PAGE
from server.ws.wire import AsgiWire, InFlight, SendMessages, Wire

log = logging.getLogger(__name__)

CloseCallback = Callable[[CloseCode, str], Coroutine[Any, Any, None]]


@dataclass(frozen=True, slots=True)
class _Live:
    event: LivePublished
    text: str


@dataclass(frozen=True, slots=True)
class _Heads:
    heads: tuple[HeadRead, ...]


@dataclass(frozen=True, slots=True)
class _Run:
    commands: tuple[ServerCommand, ...]
    live: str = ""
    """The text of the live push these commands came from (for its ``SendLive``)."""


_Item = str | _Live | _Heads | _Run


def head_reads(heads: dict[str, feeds.Head]) -> tuple[HeadRead, ...]:
    """Store heads as session events' :class:`HeadRead` values."""
    return tuple(HeadRead(feed=f, epoch=h.epoch, seq=h.seq, compacted=h.compacted) for f, h in heads.items())


class _Stalled(Exception):
    """A send stayed blocked longer than the stall limit: the peer stopped reading."""


async def _finish(in_flight: InFlight) -> None:
    """Drive a send that suspended to its end, as the task it was not given would have."""
    send, waiting = in_flight
    while True:
        try:
            if waiting is None:  # a bare yield: give the loop one turn
                await asyncio.sleep(0)
            else:
                waiting._asyncio_future_blocking = False  # taken over, as a task takes over what it is given
                await waiting
        except asyncio.CancelledError:
            send.close()  # its own cleanup (e.g. leaving the writable event's waiters) runs
            raise
        except Exception:
            pass
        try:
            waiting = send.send(None)
        except StopIteration:
            return


Pushed = tuple[str, int, int]
"""A live push's feed, epoch and seq."""


class FeedStreamer:
    __slots__ = (
        "_closing",
        "_held",
        "_queue",
        "_started",
        "_writer",
        "clock",
        "closed",
        "db",
        "family",
        "on_close",
        "queue_limit",
        "session",
        "stall_s",
        "wire",
    )

    def __init__(
        self,
        ws: WebSocket | Wire,
        db: Database,
        clock: Clock,
        family: feeds.FeedFamily,
        queue_limit: int,
        on_close: CloseCallback,
        *,
        stall_s: float = 10.0,
        messages: SendMessages | None = None,
    ) -> None:
        self.wire = ws if isinstance(ws, Wire) else AsgiWire(ws, messages or SendMessages())
        """Where frames go (an ASGI socket's messages are shared with the hub's other sockets)."""
        self.db = db
        self.clock = clock
        self.family = family
        self.on_close: CloseCallback | None = on_close
        self.queue_limit = queue_limit
        self.stall_s = stall_s
        """A send blocked this long (the peer stopped reading) makes it a slow consumer."""
        self.session = ServerFeedSession()
        self._queue: deque[_Item] | None = None
        """Items waiting behind the writer task (made on first use)."""
        self._writer: asyncio.Task[None] | None = None
        """The task sending queued items; None while nothing is queued or being sent."""
        self._started = False
        self._closing: asyncio.Task[None] | None = None
        """The socket's close, once this streamer asked for it (kept until done)."""
        self._held: list[_Item] | None = None
        """While paused: what the hub handed over (live pushes, heads, tenant frames), in order."""
        self.closed = False

    @property
    def idle(self) -> bool:
        """Nothing queued and no send or store read in progress (no writer task)."""
        return self._writer is None and not self._queue

    def start(self) -> None:
        """Send what was queued before the socket was greeted; from now on, send directly."""
        self._started = True
        if self._queue and self._writer is None and not self.closed:
            self._writer = asyncio.create_task(self._write(None, None), name="feed-streamer")

    def stop(self) -> None:
        self.closed = True
        self.on_close = None  # no cycle through the socket's bound method once closed
        if self._queue:
            self._queue.clear()
        if self._writer is not None:
            self._writer.cancel()

    def pause(self) -> None:
        """Hold what the hub hands over from now on (live pushes, heads, tenant frames) until
        :meth:`resume`: a socket being greeted follows its feeds before its welcome is sent,
        and nothing may reach the peer before the welcome. Frames the socket sends itself
        (the welcome, errors, catch-up) are not held."""
        self._held = []

    def resume(self) -> list[Pushed]:
        """Hand over what was held, in order, where the session decides about each as it
        would have; return the ``(feed, epoch, seq)`` of the live pushes among it."""
        held, self._held = self._held or [], None
        pushed = []
        for item in held:
            self._put(item)
            if isinstance(item, _Live):
                pushed.append((item.event.feed, item.event.epoch, item.event.seq))
        return pushed

    def send_text(self, text: str) -> None:
        """A frame the hub hands over (a tenant frame), already encoded."""
        if self._held is not None:
            self._held.append(text)
            return
        self._put(text)

    def send_frame(self, frame: msgspec.Struct) -> None:
        """A frame of the socket's own (never held)."""
        self._put(encode(frame).decode())

    def run_commands(self, commands: list[ServerCommand]) -> None:
        """Run session commands in order with everything else sent."""
        if commands:
            self._put(_Run(tuple(commands)))

    def push_live(self, feed_id: str, epoch: int, seq: int, text: str) -> None:
        item = _Live(LivePublished(feed=feed_id, epoch=epoch, seq=seq), text)
        if self._held is not None:
            self._held.append(item)
            return
        self._put(item)

    def push_heads(self, heads: dict[str, feeds.Head]) -> None:
        item = _Heads(head_reads(heads))
        if self._held is not None:
            self._held.append(item)
            return
        self._put(item)

    async def drained(self, timeout_s: float) -> None:
        """Wait until everything handed over so far was sent (at most ``timeout_s``).

        The writer task ends only when its queue is empty, so its end covers every item
        queued before this call."""
        writer = self._writer
        if writer is not None:
            await asyncio.wait([writer], timeout=timeout_s)

    # ------------------------------------------------------------ handing over

    def _put(self, item: _Item) -> None:
        if self.closed:
            return
        if self._writer is None and self._started:  # nothing ahead of it: send it now
            self._now(item)
            return
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        if len(queue) >= self.queue_limit:
            self._close(CloseCode.SLOW_CONSUMER, "send queue full; reconnect and resume")
            return
        queue.append(item)

    def _now(self, item: _Item) -> None:
        """Send ``item`` in the caller's step; what has to wait goes to a new writer task."""
        try:
            if isinstance(item, str):
                in_flight = self.wire.write(item)
                rest: _Run | None = None
            else:
                live = item.text if isinstance(item, _Live) else ""
                in_flight, rest = self._run_now(self._commands(item), live)
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.closed = True
            return
        except Exception:
            log.exception("feed streamer failed")
            self._close(CloseCode.SLOW_CONSUMER, "send failed; reconnect and resume")
            return
        if in_flight is not None or rest is not None:
            self._writer = asyncio.create_task(self._write(in_flight, rest), name="feed-streamer")

    def _commands(self, item: _Live | _Heads | _Run) -> list[ServerCommand]:
        """The session's commands for an item, decided when the item's turn comes."""
        if isinstance(item, _Live):
            return self.session.handle(item.event)
        if isinstance(item, _Heads):
            return self.session.handle(HeadsRead(heads=item.heads))
        return list(item.commands)

    def _run_now(self, commands: list[ServerCommand], live: str) -> tuple[InFlight | None, _Run | None]:
        """Run commands until one suspends or needs the store: that send and the rest are returned."""
        index = 0
        while index < len(commands):
            command = commands[index]
            index += 1
            if isinstance(command, ReadStore):
                return None, _Run(tuple(commands[index - 1 :]), live)
            if isinstance(command, AnnounceHeads):
                commands[index:index] = self.session.handle(AnnouncementDue(heads=command.heads))
                continue
            if isinstance(command, Close):
                self._close(command.code, command.reason)
                return None, None
            text = self._text(command, live, None)
            if text is None:
                continue
            in_flight = self.wire.write(text)
            if in_flight is not None:
                return in_flight, (_Run(tuple(commands[index:]), live) if index < len(commands) else None)
        return None, None

    def _text(self, command: ServerCommand, live: str, page: dict[int, bytes] | None) -> str | None:
        """The frame a send command sends (None for a command that sends nothing)."""
        if isinstance(command, SendLive):
            return live
        if isinstance(command, SendStored):
            assert page is not None
            return page[command.seq].decode()
        if isinstance(command, SendHeartbeat):
            frame = Heartbeat(heads=list(command.heads), server_time=to_datetime(self.clock.now_ms()))
            return encode(frame).decode()
        if isinstance(command, SendError):
            return encode(Error(code=command.code, message=command.message)).decode()
        if isinstance(command, SendResyncRequired):
            return encode(ResyncRequired(feeds=list(command.feeds), reason=command.reason)).decode()
        return None

    def _close(self, code: CloseCode, reason: str) -> None:
        self.closed = True
        on_close = self.on_close
        if on_close is not None and self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(on_close(code, reason))

    # ------------------------------------------------------------ the writer task

    async def _send(self, text: str) -> None:
        in_flight = self.wire.write(text)
        if in_flight is not None:
            await self._blocked(in_flight)

    async def _blocked(self, in_flight: InFlight) -> None:
        """Finish a send that had to wait, within the stall limit."""
        try:
            async with asyncio.timeout(self.stall_s):
                await _finish(in_flight)
        except TimeoutError:
            raise _Stalled from None

    async def _write(self, in_flight: InFlight | None, rest: _Run | None) -> None:
        try:
            if in_flight is not None:
                await self._blocked(in_flight)
            if rest is not None:
                await self._execute(list(rest.commands), live=rest.live)
            queue = self._queue
            while queue and not self.closed:
                item = queue.popleft()
                if isinstance(item, str):
                    await self._send(item)
                else:
                    live = item.text if isinstance(item, _Live) else item.live if isinstance(item, _Run) else ""
                    await self._execute(self._commands(item), live=live)
        except _Stalled:  # closed from another task: closing cancels this one
            self._close(CloseCode.SLOW_CONSUMER, "not reading; reconnect and resume")
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.closed = True
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("feed streamer failed")
            on_close = self.on_close
            self.closed = True
            if on_close is not None:
                await on_close(CloseCode.SLOW_CONSUMER, "send failed; reconnect and resume")
        finally:
            if self._writer is asyncio.current_task():
                self._writer = None  # in the same step as the last empty-queue check: nothing slips past
                if not self._queue:
                    self._queue = None  # an idle socket holds no queue either

    async def _execute(
        self, commands: list[ServerCommand], live: str = "", page: dict[int, bytes] | None = None
    ) -> None:
        index = 0
        while index < len(commands):
            command = commands[index]
            index += 1
            if isinstance(command, ReadStore):
                await self._read(command)
            elif isinstance(command, AnnounceHeads):
                commands[index:index] = self.session.handle(AnnouncementDue(heads=command.heads))
            elif isinstance(command, Close):
                self._close(command.code, command.reason)
                return
            else:
                text = self._text(command, live, page)
                if text is not None:
                    await self._send(text)

    async def _read(self, command: ReadStore) -> None:
        failures = 0
        while True:  # a store outage delays the fill; the socket stays open
            try:
                async with self.db.read() as conn:
                    frames = await feeds.read_frames(
                        conn, command.feed, command.epoch, command.after, FILL_PAGE, self.family
                    )
                break
            except StoreUnavailable as exc:
                if not failures:
                    await self._send(encode(Error(code=ErrorCode.INTERNAL_ERROR, message=str(exc))).decode())
                failures += 1
                await asyncio.sleep(backoff_s(0.5, failures))
        event = PageRead(feed=command.feed, seqs=tuple(seq for seq, _ in frames), page_size=FILL_PAGE)
        await self._execute(self.session.handle(event), page=dict(frames))
