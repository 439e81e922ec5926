"""A simulated carer device for load tests: the real protocol, minimal state.

It keeps one feed position, applies changes strictly in order (the same tracker as the
SDK), acks each one, closes gaps with a standard sync, reconnects with backoff, and counts
what the fleet report needs. Frames are decoded only as far as needed.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from loadtest.lean_socket import LeanSocket
from protocol import PROTOCOL_VERSION
from protocol.codec import encode
from protocol.errors import should_reconnect
from protocol.frames import Ack, CleanSyncRequest, FeedPosition, Hello, SyncRequest
from protocol.tracker import Apply, Duplicate, InSync, decide_change, decide_head


class _Head(msgspec.Struct):
    type: str
    feed: str = ""
    epoch: int = 0
    seq: int = 0
    committed_at: datetime | None = None
    feeds: list[msgspec.Raw] = []
    heads: list[FeedPosition] = []
    changes: list[msgspec.Raw] = []
    next_cursor: str | None = None
    request_id: str = ""
    resync: list[str] = []


class _Status(msgspec.Struct):
    feed: str
    epoch: int
    head: int
    action: str


_head = msgspec.json.Decoder(_Head)
_status = msgspec.json.Decoder(_Status)


@dataclass
class Counters:
    applied: int = 0
    duplicates: int = 0
    applied_twice: int = 0
    gaps: int = 0
    syncs: int = 0
    clean_syncs: int = 0
    reconnects: int = 0
    preferences: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    closes: dict[int, int] = field(default_factory=dict)


@dataclass
class Behaviour:
    ack: bool = True
    repair: bool = True
    """Close gaps with a standard sync (off only to prove the harness sees a loss)."""
    drop_one_change: bool = False
    """Deliberately ignore the first live change (harness self-test)."""
    slow: bool = False
    """Stop reading after the welcome: the server must cut us off, not buffer forever."""


class LeanDevice:
    def __init__(self, url: str, token: str, device_uuid: str, carer_id: str, counters: Counters, behaviour: Behaviour):
        self.url = url
        self.token = token
        self.device_uuid = device_uuid
        self.carer_id = carer_id
        self.counters = counters
        self.behaviour = behaviour
        self.position = FeedPosition(feed=carer_id, epoch=1, seq=0)
        self.max_applied = 0
        self.connected = False
        self.welcomed = asyncio.Event()
        self.socket: LeanSocket | None = None
        self._closed = asyncio.Event()
        self._stopping = False
        self._syncing = False
        self._dropped = False
        self._clean_done: asyncio.Future[None] | None = None

    async def run(self) -> None:
        attempt = 0
        while not self._stopping:
            self._closed.clear()
            try:
                self.socket = await LeanSocket.open(self.url, self._on_text, self._on_close)
            except (OSError, ConnectionError, TimeoutError):
                self._closed.set()
            else:
                hello = Hello(
                    token=self.token,
                    device_uuid=self.device_uuid,
                    app_version="fleet",
                    protocol_version=PROTOCOL_VERSION,
                    positions=[self.position],
                )
                self.socket.send(encode(hello).decode())
                attempt = 0
            await self._closed.wait()
            self.connected = False
            self.welcomed.clear()
            code = self._last_close
            if self._stopping or not should_reconnect(code):
                return
            self.counters.reconnects += 1
            ceiling = min(10.0, 0.25 * 2**attempt)
            attempt += 1
            await asyncio.sleep(random.uniform(ceiling / 2, ceiling))

    _last_close = 1006

    def _on_close(self, code: int) -> None:
        self._last_close = code
        self.counters.closes[code] = self.counters.closes.get(code, 0) + 1
        self._closed.set()

    def stop(self) -> None:
        self._stopping = True
        if self.socket is not None:
            self.socket.close()
        self._closed.set()

    def drop(self) -> None:
        """Lose the signal: the socket dies without a close; the device reconnects."""
        if self.socket is not None:
            self.socket.abort()

    # ------------------------------------------------------------ frames

    def _on_text(self, text: str) -> None:
        frame = _head.decode(text)
        kind = frame.type
        if kind == "change":
            self._on_change(frame)
        elif kind == "welcome":
            self._on_welcome(frame)
        elif kind == "heartbeat":
            for head in frame.heads:
                if head.feed == self.carer_id and not isinstance(
                    decide_head(self.position, head.epoch, head.seq), InSync
                ):
                    self._sync()
        elif kind == "sync_response":
            self._on_sync_response(text)
        elif kind == "clean_sync_response":
            self._on_clean_page(frame)
        elif kind == "preferences":
            self.counters.preferences += 1

    def _on_welcome(self, frame: _Head) -> None:
        for raw in frame.feeds:
            status = _status.decode(raw)
            if status.feed == self.carer_id and (
                status.action in ("reset", "clean_sync") or status.epoch != self.position.epoch
            ):
                self.position = FeedPosition(feed=self.carer_id, epoch=status.epoch, seq=0)
        self.connected = True
        self.welcomed.set()
        if self.behaviour.slow and self.socket is not None:
            self.socket.pause_reading()

    def _on_change(self, frame: _Head) -> None:
        if self.behaviour.drop_one_change and not self._dropped and self.welcomed.is_set() and frame.seq > 1:
            self._dropped = True
            return
        decision = decide_change(self.position, frame.epoch, frame.seq)
        if isinstance(decision, Apply):
            self._apply(frame.epoch, frame.seq, frame.committed_at)
            if self.behaviour.ack and self.socket is not None:
                self.socket.send(encode(Ack(feed=self.carer_id, epoch=frame.epoch, seq=frame.seq)).decode())
        elif isinstance(decision, Duplicate):
            self.counters.duplicates += 1
        else:
            self.counters.gaps += 1
            self._sync()

    def _apply(self, epoch: int, seq: int, committed_at: datetime | None) -> None:
        if epoch == self.position.epoch and seq <= self.max_applied:
            self.counters.applied_twice += 1
        self.position = FeedPosition(feed=self.carer_id, epoch=epoch, seq=seq)
        self.max_applied = max(self.max_applied, seq)
        self.counters.applied += 1
        if committed_at is not None:
            self.counters.latencies_ms.append((time.time() - committed_at.timestamp()) * 1000)

    def _sync(self) -> None:
        if not self.behaviour.repair or self._syncing or self.socket is None:
            return
        self._syncing = True
        self.counters.syncs += 1
        request = SyncRequest(request_id=str(uuid.uuid4()), positions=[self.position])
        self.socket.send(encode(request).decode())

    def _on_sync_response(self, text: str) -> None:
        self._syncing = False
        frame = _head.decode(text)
        for raw in frame.changes:
            change = _head.decode(raw)
            if isinstance(decide_change(self.position, change.epoch, change.seq), Apply):
                self._apply(change.epoch, change.seq, None)
        if self.behaviour.ack and self.socket is not None and self.position.seq:
            self.socket.send(encode(Ack(feed=self.carer_id, epoch=self.position.epoch, seq=self.position.seq)).decode())

    # ------------------------------------------------------------ clean sync

    async def clean_sync(self) -> None:
        """Download a whole snapshot (pages in order), then continue from its position."""
        if self.socket is None:
            raise ConnectionError("not connected")
        self._clean_done = asyncio.get_running_loop().create_future()
        self.socket.send(encode(CleanSyncRequest(request_id="clean", feed=self.carer_id)).decode())
        await self._clean_done
        self.counters.clean_syncs += 1

    def _on_clean_page(self, frame: _Head) -> None:
        if frame.next_cursor is not None and self.socket is not None:
            request = CleanSyncRequest(request_id="clean", feed=self.carer_id, cursor=frame.next_cursor)
            self.socket.send(encode(request).decode())
            return
        if self._clean_done is not None and not self._clean_done.done():
            self._clean_done.set_result(None)
