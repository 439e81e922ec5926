"""A simulated carer device for load tests: the real protocol, minimal state.

It keeps one feed position in memory and lets the device feed session (the same one as
the SDK, ``protocol/device_session.py``) decide what each frame means: apply and ack,
close gaps with a standard sync, reset, clean-sync. It reconnects with backoff and counts
what the fleet report needs. Frames are decoded only as far as needed.

An HTTP-only device (:meth:`LeanDevice.run_http`) holds no socket: it runs standard syncs
over ``POST /api/v1/device/sync`` on an interval (and when asked), following ``more``,
and acknowledges the last page with ``POST /api/v1/device/ack`` (docs/protocol.md 8).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import httpx
import msgspec

from loadtest.lean_socket import CloseInfo, ConnectFailed, LeanSocket
from protocol import PROTOCOL_VERSION
from protocol.codec import encode
from protocol.device_session import (
    ApplyChange,
    ChangeArrived,
    DeviceCommand,
    DeviceFeedSession,
    FeedOffer,
    HeadsAnnounced,
    ResetFeed,
    RunCleanSync,
    RunStandardSync,
    SendAck,
    SnapshotSwapped,
    SyncAnswer,
    Welcomed,
)
from protocol.errors import should_reconnect
from protocol.frames import Ack, CleanSyncRequest, FeedPosition, Hello, SyncRequest
from protocol.tracker import Duplicate, decide_change


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
    resets: list[str] = []
    more: bool = False


class _Status(msgspec.Struct):
    feed: str
    epoch: int
    head: int
    action: Literal["resume", "catch_up", "reset", "clean_sync"]


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
    """Close codes of sockets that had opened (1006: ended without a close frame)."""
    abnormal: dict[str, int] = field(default_factory=dict)
    """The 1006 closes by how and when they happened: ``eof_before_welcome``,
    ``reset_after_welcome``, ... (see :class:`CloseInfo`)."""
    abnormal_open_s: list[float] = field(default_factory=list)
    """Since the previous report: how long each socket closed 1006 had been open."""
    connect_failures: dict[str, int] = field(default_factory=dict)
    """Attempts that never opened, by reason (``timeout``, ``refused``, ``http_503``, ...)."""


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
    def __init__(
        self,
        url: str,
        token: str,
        device_uuid: str,
        carer_id: str,
        counters: Counters,
        behaviour: Behaviour,
        source_address: str | None = None,
    ):
        self.url = url
        self.source_address = source_address
        """The local address this device connects from (None: the system chooses)."""
        self.token = token
        self.device_uuid = device_uuid
        self.carer_id = carer_id
        self.counters = counters
        self.behaviour = behaviour
        self.position = FeedPosition(feed=carer_id, epoch=1, seq=0)
        self.session = DeviceFeedSession(lambda feed: self.position if feed == self.carer_id else None)
        self.max_applied = FeedPosition(feed=carer_id, epoch=1, seq=0)
        """The furthest change ever applied (to catch one applied twice)."""
        self.connected = False
        self.welcomed = asyncio.Event()
        self.socket: LeanSocket | None = None
        self._closed = asyncio.Event()
        self._stopping = False
        self._syncing = False
        self._dropped = False
        self._clean_done: asyncio.Future[None] | None = None
        self._http_acks: dict[str, Ack] | None = None
        """While an HTTP sync runs: the last ack per feed, sent when its last page is applied."""
        self.sync_wanted = asyncio.Event()
        """HTTP mode: run a sync now (a gap seen, or the fleet asks)."""
        self._http_lock = asyncio.Lock()
        """HTTP mode: one sync at a time (the interval's and one the fleet asks for)."""

    async def run(self) -> None:
        attempt = 0
        while not self._stopping:
            self._closed.clear()
            try:
                self.socket = await LeanSocket.open(
                    self.url, self._on_text, self._on_close, source_address=self.source_address
                )
            except ConnectFailed as failure:
                failures = self.counters.connect_failures
                failures[failure.reason] = failures.get(failure.reason, 0) + 1
                self._last_close = 1006  # never opened: retry with backoff
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

    def _on_close(self, info: CloseInfo) -> None:
        self._last_close = info.code
        counters = self.counters
        counters.closes[info.code] = counters.closes.get(info.code, 0) + 1
        if info.code == 1006:
            key = f"{info.how}_{'after' if self.welcomed.is_set() else 'before'}_welcome"
            counters.abnormal[key] = counters.abnormal.get(key, 0) + 1
            counters.abnormal_open_s.append(round(info.open_s, 3))
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
            self._run(self.session.handle(HeadsAnnounced(heads=tuple(frame.heads))))
        elif kind == "sync_response":
            self._on_sync_response(text)
        elif kind == "clean_sync_response":
            self._on_clean_page(frame)
        elif kind == "preferences":
            self.counters.preferences += 1

    def _on_welcome(self, frame: _Head) -> None:
        statuses = [_status.decode(raw) for raw in frame.feeds]
        offers = tuple(FeedOffer(feed=s.feed, epoch=s.epoch, head=s.head, action=s.action) for s in statuses)
        self.connected = True
        self.welcomed.set()
        self._run(self.session.handle(Welcomed(feeds=offers)))
        if self.behaviour.slow and self.socket is not None:
            self.socket.pause_reading()

    def _on_change(self, frame: _Head) -> None:
        if self.behaviour.drop_one_change and not self._dropped and self.welcomed.is_set() and self.counters.applied:
            self._dropped = True
            return
        event = ChangeArrived(feed=frame.feed, epoch=frame.epoch, seq=frame.seq)
        outcome = self.session.classify(event)
        if outcome == "duplicate":
            self.counters.duplicates += 1
        elif outcome == "repair":
            self.counters.gaps += 1
        self._run(self.session.handle(event), frame.committed_at)

    def _run(self, commands: list[DeviceCommand], committed_at: datetime | None = None) -> None:
        for command in commands:
            if isinstance(command, ApplyChange):
                self._apply(command.epoch, command.seq, committed_at)
            elif isinstance(command, SendAck) and self._http_acks is not None:
                self._http_acks[command.feed] = Ack(feed=command.feed, epoch=command.epoch, seq=command.seq)
            elif isinstance(command, SendAck):
                if self.behaviour.ack and self.socket is not None:
                    self.socket.send(encode(Ack(feed=command.feed, epoch=command.epoch, seq=command.seq)).decode())
            elif isinstance(command, ResetFeed):
                self.position = FeedPosition(feed=self.carer_id, epoch=command.epoch, seq=0)
            elif isinstance(command, RunStandardSync) and self._http_acks is not None:
                self.sync_wanted.set()
            elif isinstance(command, RunStandardSync):
                self._sync()
            elif isinstance(command, RunCleanSync):
                self._start_clean_sync()

    def _apply(self, epoch: int, seq: int, committed_at: datetime | None) -> None:
        if isinstance(decide_change(self.max_applied, epoch, seq), Duplicate):
            self.counters.applied_twice += 1
        else:
            self.max_applied = FeedPosition(feed=self.carer_id, epoch=epoch, seq=seq)
        self.position = FeedPosition(feed=self.carer_id, epoch=epoch, seq=seq)
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
        changes = [_head.decode(raw) for raw in frame.changes]
        answer = SyncAnswer(
            resets=tuple(frame.resets),
            heads=tuple(frame.heads),
            changes=tuple(FeedPosition(feed=c.feed, epoch=c.epoch, seq=c.seq) for c in changes),
            resync=tuple(frame.resync),
        )
        self._run(self.session.handle(answer))

    # ------------------------------------------------------------ clean sync

    async def clean_sync(self) -> None:
        """Download a whole snapshot (pages in order), then continue from its position."""
        if self.socket is None:
            raise ConnectionError("not connected")
        self._clean_done = asyncio.get_running_loop().create_future()
        self._start_clean_sync()
        await self._clean_done
        self.counters.clean_syncs += 1

    def _start_clean_sync(self) -> None:
        if self.socket is not None:
            self.socket.send(encode(CleanSyncRequest(request_id="clean", feed=self.carer_id)).decode())

    def _on_clean_page(self, frame: _Head) -> None:
        if frame.next_cursor is not None and self.socket is not None:
            request = CleanSyncRequest(request_id="clean", feed=self.carer_id, cursor=frame.next_cursor)
            self.socket.send(encode(request).decode())
            return
        # The whole snapshot is here: take its position, then report it with a standard sync.
        self.position = FeedPosition(feed=self.carer_id, epoch=frame.epoch, seq=frame.seq)
        self.max_applied = self.position
        self._run(self.session.handle(SnapshotSwapped(position=self.position)))
        self._sync()
        if self._clean_done is not None and not self._clean_done.done():
            self._clean_done.set_result(None)

    # ------------------------------------------------------------ HTTP only

    async def run_http(self, http: httpx.AsyncClient, interval_s: float) -> None:
        """Sync over HTTP now, then every ``interval_s`` (jittered) or when asked, until stopped."""
        while not self._stopping:
            self.sync_wanted.clear()
            try:
                await self.http_sync(http)
            except (httpx.HTTPError, OSError):
                self.counters.reconnects += 1
                await asyncio.sleep(random.uniform(0.5, 1.0))
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(random.uniform(0.9, 1.1) * interval_s):
                    await self.sync_wanted.wait()

    async def http_sync(self, http: httpx.AsyncClient) -> None:
        """One standard sync over HTTP: every page, then the ack of the last one."""
        async with self._http_lock:
            await self._http_sync(http)

    async def _http_sync(self, http: httpx.AsyncClient) -> None:
        headers = {"authorization": f"Bearer {self.token}"}
        self._http_acks = {}
        try:
            more = True
            while more:
                request = SyncRequest(request_id=str(uuid.uuid4()), positions=[self.position])
                reply = await http.post("/api/v1/device/sync", content=encode(request), headers=headers)
                reply.raise_for_status()
                self.counters.syncs += 1
                self._http_acks.clear()  # the request's position acknowledged the page before it
                frame = _head.decode(reply.content)
                self._on_sync_response(reply.text)
                more = frame.more
            for ack in self._http_acks.values() if self.behaviour.ack else ():
                (await http.post("/api/v1/device/ack", content=encode(ack), headers=headers)).raise_for_status()
            self.connected = True
        finally:
            self._http_acks = None
