"""Ordered delivery of one socket's feeds: pushes, catch-up from the store, heartbeats.

Everything a socket sends goes through one writer task and a bounded queue, so live
pushes, replays and responses leave in order, each feed's frames strictly by seq with no
duplicates. A live push that skips ahead (a lost doorbell) is filled from the store.
When the queue overflows, ``on_overflow`` runs (the session closes as a slow consumer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect

from protocol.codec import encode
from protocol.frames import FeedPosition, Heartbeat
from server.clock import Clock, to_datetime
from server.services import feeds
from server.store.database import Database
from server.tunables import STREAMER_FILL_PAGE as _FILL_PAGE

log = logging.getLogger(__name__)


@dataclass
class _Live:
    feed: str
    epoch: int
    seq: int
    text: str


@dataclass
class _Heads:
    heads: dict[str, feeds.Head]


@dataclass
class _CatchUp:
    feed: str


_Item = str | _Live | _Heads | _CatchUp


class FeedStreamer:
    def __init__(
        self,
        ws: WebSocket,
        db: Database,
        clock: Clock,
        family: feeds.FeedFamily,
        queue_limit: int,
        on_overflow: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        self.ws = ws
        self.db = db
        self.clock = clock
        self.family = family
        self.on_overflow = on_overflow
        self.sent: dict[str, FeedPosition] = {}
        """Per feed, the last position this socket delivered."""
        self.heads_seen: dict[str, int] = {}
        """Per feed, the highest head announced on this socket (welcome, heartbeat, sync)."""
        self.acked: dict[str, int] = {}
        self.max_unacked: int | None = None
        """Pushed-but-unacknowledged changes a peer may hold before it counts as a slow consumer
        (device sockets only; the kernel's socket buffers hide a reader that stopped)."""
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(queue_limit)
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    def track(self, feed_id: str, start: FeedPosition, head: int) -> None:
        self.sent[feed_id] = start
        self.heads_seen[feed_id] = head

    def start(self) -> None:
        for feed_id in self.sent:
            self._put(_CatchUp(feed_id))
        self._task = asyncio.create_task(self._run(), name="feed-streamer")

    def stop(self) -> None:
        self.closed = True
        if self._task is not None:
            self._task.cancel()

    def send_text(self, text: str) -> None:
        self._put(text)

    def send_frame(self, frame: msgspec.Struct) -> None:
        self._put(encode(frame).decode())

    def push_live(self, feed_id: str, epoch: int, seq: int, text: str) -> None:
        self._put(_Live(feed_id, epoch, seq, text))

    def push_heads(self, heads: dict[str, feeds.Head]) -> None:
        self._put(_Heads(heads))

    def _put(self, item: _Item) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.closed = True
            asyncio.get_running_loop().create_task(self.on_overflow())

    async def _run(self) -> None:
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, str):
                    await self.ws.send_text(item)
                elif isinstance(item, _Live):
                    await self._send_live(item)
                elif isinstance(item, _CatchUp):
                    await self._fill(item.feed)
                else:
                    await self._send_heads(item.heads)
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.closed = True
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("feed streamer failed")
            self.closed = True
            await self.on_overflow()

    async def _send_live(self, item: _Live) -> None:
        sent = self.sent.get(item.feed)
        if sent is None or item.epoch != sent.epoch or item.seq <= sent.seq:
            return
        if item.seq == sent.seq + 1:
            await self.ws.send_text(item.text)
            self.sent[item.feed] = FeedPosition(feed=item.feed, epoch=sent.epoch, seq=item.seq)
            self.heads_seen[item.feed] = max(item.seq, self.heads_seen.get(item.feed, 0))
            self._check_unacked(item.feed)
            return
        await self._fill(item.feed)

    def _check_unacked(self, feed_id: str) -> None:
        if self.max_unacked is None:
            return
        if self.sent[feed_id].seq - self.acked.get(feed_id, self.sent[feed_id].seq) > self.max_unacked:
            self.closed = True
            asyncio.get_running_loop().create_task(self.on_overflow())

    async def _send_heads(self, heads: dict[str, feeds.Head]) -> None:
        announced = []
        for feed_id, head in heads.items():
            sent = self.sent.get(feed_id)
            seq = head.seq
            if sent is not None and head.epoch == sent.epoch:
                if head.seq > sent.seq:
                    await self._fill(feed_id)
                # Heads were read before changes that may have been pushed since:
                # never announce less than this socket has already delivered.
                seq = max(head.seq, self.sent[feed_id].seq)
            self.heads_seen[feed_id] = max(seq, self.heads_seen.get(feed_id, 0))
            announced.append(FeedPosition(feed=feed_id, epoch=head.epoch, seq=seq))
        frame = Heartbeat(heads=announced, server_time=to_datetime(self.clock.now_ms()))
        await self.ws.send_text(encode(frame).decode())

    async def _fill(self, feed_id: str) -> None:
        """Send stored frames after what this socket has sent, up to the store's head."""
        while True:
            sent = self.sent[feed_id]
            async with self.db.read() as conn:
                frames = await feeds.read_frames(conn, feed_id, sent.epoch, sent.seq, _FILL_PAGE, self.family)
            for seq, frame in frames:
                await self.ws.send_text(frame.decode())
                self.sent[feed_id] = FeedPosition(feed=feed_id, epoch=sent.epoch, seq=seq)
                self.heads_seen[feed_id] = max(seq, self.heads_seen.get(feed_id, 0))
            if len(frames) < _FILL_PAGE:
                return
