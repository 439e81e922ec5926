"""Ordered delivery of one socket's feeds: the adapter around :class:`ServerFeedSession`.

Everything a socket sends goes through one writer task and a bounded queue, so live
pushes, replays and responses leave in order. What to send for a live push, a heads
read or a page from the store is decided by the session (``protocol/session.py``); this
module only runs its commands: send bytes, read the store, close. When the queue
overflows, the socket closes as a slow consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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


_Item = str | _Live | _Heads | _Run


def head_reads(heads: dict[str, feeds.Head]) -> tuple[HeadRead, ...]:
    """Store heads as session events' :class:`HeadRead` values."""
    return tuple(HeadRead(feed=f, epoch=h.epoch, seq=h.seq, compacted=h.compacted) for f, h in heads.items())


class _Stalled(Exception):
    """A send stayed blocked longer than the stall limit: the peer stopped reading."""


class FeedStreamer:
    def __init__(
        self,
        ws: WebSocket,
        db: Database,
        clock: Clock,
        family: feeds.FeedFamily,
        queue_limit: int,
        on_close: CloseCallback,
        *,
        stall_s: float = 10.0,
    ) -> None:
        self.ws = ws
        self.db = db
        self.clock = clock
        self.family = family
        self.on_close = on_close
        self.stall_s = stall_s
        """A send blocked this long (the peer stopped reading) makes it a slow consumer."""
        self.session = ServerFeedSession()
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(queue_limit)
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="feed-streamer")

    def stop(self) -> None:
        self.closed = True
        if self._task is not None:
            self._task.cancel()

    def send_text(self, text: str) -> None:
        self._put(text)

    def send_frame(self, frame: msgspec.Struct) -> None:
        self._put(encode(frame).decode())

    def run_commands(self, commands: list[ServerCommand]) -> None:
        """Queue session commands to run in order with everything else sent."""
        if commands:
            self._put(_Run(tuple(commands)))

    def push_live(self, feed_id: str, epoch: int, seq: int, text: str) -> None:
        self._put(_Live(LivePublished(feed=feed_id, epoch=epoch, seq=seq), text))

    def push_heads(self, heads: dict[str, feeds.Head]) -> None:
        self._put(_Heads(head_reads(heads)))

    async def drained(self, timeout_s: float) -> None:
        """Wait until everything queued so far was sent (at most ``timeout_s``)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._queue.join()

    def _put(self, item: _Item) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._close(CloseCode.SLOW_CONSUMER, "send queue full; reconnect and resume")

    def _close(self, code: CloseCode, reason: str) -> None:
        self.closed = True
        asyncio.get_running_loop().create_task(self.on_close(code, reason))

    async def _send(self, text: str) -> None:
        try:
            async with asyncio.timeout(self.stall_s):
                await self.ws.send_text(text)
        except TimeoutError:
            raise _Stalled from None

    async def _run(self) -> None:
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, str):
                    await self._send(item)
                elif isinstance(item, _Live):
                    await self._execute(self.session.handle(item.event), live=item.text)
                elif isinstance(item, _Heads):
                    await self._execute(self.session.handle(HeadsRead(heads=item.heads)))
                else:
                    await self._execute(list(item.commands))
                self._queue.task_done()
        except _Stalled:  # closed from another task: closing cancels this one
            self._close(CloseCode.SLOW_CONSUMER, "not reading; reconnect and resume")
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.closed = True
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("feed streamer failed")
            self.closed = True
            await self.on_close(CloseCode.SLOW_CONSUMER, "send failed; reconnect and resume")

    async def _execute(
        self, commands: list[ServerCommand], live: str = "", page: dict[int, bytes] | None = None
    ) -> None:
        for command in commands:
            if isinstance(command, SendLive):
                await self._send(live)
            elif isinstance(command, SendStored):
                assert page is not None
                await self._send(page[command.seq].decode())
            elif isinstance(command, ReadStore):
                await self._read(command)
            elif isinstance(command, AnnounceHeads):
                await self._execute(self.session.handle(AnnouncementDue(heads=command.heads)))
            elif isinstance(command, SendHeartbeat):
                frame = Heartbeat(heads=list(command.heads), server_time=to_datetime(self.clock.now_ms()))
                await self._send(encode(frame).decode())
            elif isinstance(command, SendError):
                await self._send(encode(Error(code=command.code, message=command.message)).decode())
            elif isinstance(command, SendResyncRequired):
                resync = ResyncRequired(feeds=list(command.feeds), reason=command.reason)
                await self._send(encode(resync).decode())
            elif isinstance(command, Close):
                self._close(command.code, command.reason)
                return

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
