"""One device's WebSocket: hello/welcome, ordered pushes, acks, heartbeats and sync.

All frames to the device go through one writer task and its bounded queue, so pushes,
catch-up from the store and responses leave in order; a device that cannot keep up is
closed with 4001 (it reconnects and resumes from its stored positions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from protocol import MAX_FRAME_BYTES, PROTOCOL_VERSION
from protocol.codec import decode_device_frame, encode
from protocol.errors import CloseCode, ErrorCode, ProtocolError
from protocol.frames import (
    Ack,
    Error,
    FeedAction,
    FeedPosition,
    FeedStatus,
    Heartbeat,
    Hello,
    SyncRequest,
    Welcome,
)
from server.clock import to_datetime
from server.node import Node
from server.services import feeds
from server.services.errors import Revoked, Unauthorized
from server.services.identity import DeviceIdentity, authenticate_device
from server.services.tenant_prefs import load_preferences

log = logging.getLogger(__name__)

_FILL_PAGE = 200


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


class DeviceSession:
    def __init__(self, websocket: WebSocket, node: Node) -> None:
        self.ws = websocket
        self.node = node
        self.device: DeviceIdentity | None = None
        self.sent: dict[str, FeedPosition] = {}
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(node.settings.send_queue_limit)
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        self._heads_seen: dict[str, int] = {}
        """Highest head announced to the device per feed (welcome, heartbeat, sync)."""

    @property
    def device_id(self) -> str:
        assert self.device is not None
        return self.device.device_id

    @property
    def feed_ids(self) -> list[str]:
        return list(self.device.carers) if self.device else []

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        await self.ws.accept()
        try:
            hello = await self._receive_hello()
            if hello is None or not await self._welcome(hello):
                return
            await self._read_loop()
        except WebSocketDisconnect:
            pass
        finally:
            self._closed = True
            if self._writer is not None:
                self._writer.cancel()
            if self.device is not None:
                self.node.hub.unregister(self)

    async def close(self, code: CloseCode, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._writer.cancel()
        if self.ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(code=code, reason=reason)

    async def _fail(self, code: ErrorCode, message: str, close: CloseCode) -> None:
        with contextlib.suppress(Exception):
            await self.ws.send_text(encode(Error(code=code, message=message)).decode())
        await self.close(close, message[:120])

    # ------------------------------------------------------------ hello / welcome

    async def _receive_hello(self) -> Hello | None:
        try:
            async with asyncio.timeout(self.node.settings.hello_timeout_s):
                text = await self._receive_text()
        except TimeoutError:
            await self.close(CloseCode.HELLO_TIMEOUT, "no hello in time")
            return None
        try:
            frame = decode_device_frame(text)
        except ProtocolError as exc:
            await self._fail(exc.code, exc.message, CloseCode.PROTOCOL_VIOLATION)
            return None
        if not isinstance(frame, Hello):
            await self._fail(
                ErrorCode.UNEXPECTED_FRAME,
                "the first frame must be hello",
                CloseCode.PROTOCOL_VIOLATION,
            )
            return None
        if frame.protocol_version != PROTOCOL_VERSION:
            await self._fail(
                ErrorCode.UNSUPPORTED_VERSION,
                f"protocol_version {frame.protocol_version} unsupported; server speaks {PROTOCOL_VERSION}",
                CloseCode.UNSUPPORTED_VERSION,
            )
            return None
        return frame

    async def _welcome(self, hello: Hello) -> bool:
        node = self.node
        try:
            async with node.db.read() as conn:
                device = await authenticate_device(conn, hello.token)
        except Revoked as exc:
            await self._fail(ErrorCode.DEVICE_REVOKED, exc.message, CloseCode.DEVICE_REVOKED)
            return False
        except Unauthorized as exc:
            await self._fail(ErrorCode.AUTH_FAILED, exc.message, CloseCode.AUTH_FAILED)
            return False
        if device.uuid != hello.device_uuid:
            await node.devices.record_call(device.device_id, ok=False, error_code=ErrorCode.AUTH_FAILED)
            await self._fail(ErrorCode.AUTH_FAILED, "token belongs to another device uuid", CloseCode.AUTH_FAILED)
            return False
        self.device = device
        async with node.db.read() as conn:
            heads = await feeds.heads(conn, list(device.carers))
            preferences = await load_preferences(conn, device.tenant_id)
        claimed = {p.feed: p for p in hello.positions}
        statuses = []
        for feed_id in sorted(set(claimed) - set(device.carers)):
            self._queue_text(
                encode(Error(code=ErrorCode.UNKNOWN_FEED, message=f"feed {feed_id} is not on this device"))
            )
        for feed_id, name in device.carers.items():
            head = heads[feed_id]
            action, start = self._start_position(claimed.get(feed_id), feed_id, head)
            self.sent[feed_id] = start
            self._heads_seen[feed_id] = head.seq
            statuses.append(FeedStatus(feed=feed_id, carer_name=name, epoch=head.epoch, head=head.seq, action=action))
        welcome = Welcome(
            device_id=device.device_id,
            server_time=to_datetime(node.clock.now_ms()),
            feeds=statuses,
            preferences=preferences,
            heartbeat_interval_s=node.settings.heartbeat_interval_s,
            max_frame_bytes=MAX_FRAME_BYTES,
        )
        errors = list(self._drain())
        self._queue_text(encode(welcome))
        for text in errors:
            self._put(text)
        for feed_id in device.carers:
            self._queue.put_nowait(_CatchUp(feed_id))
        await node.hub.register(self)
        await node.devices.record_call(device.device_id, ok=True, app_version=hello.app_version)
        self._writer = asyncio.create_task(self._write_loop(), name=f"device-writer-{device.device_id}")
        return True

    def _start_position(
        self, claimed: FeedPosition | None, feed_id: str, head: feeds.Head
    ) -> tuple[FeedAction, FeedPosition]:
        origin = FeedPosition(feed=feed_id, epoch=head.epoch, seq=0)
        if claimed is None:
            return ("catch_up" if head.seq else "resume"), origin
        if claimed.epoch != head.epoch:
            return "reset", origin
        if claimed.seq > head.seq:
            self._queue_text(
                encode(
                    Error(
                        code=ErrorCode.POSITION_AHEAD,
                        message=f"feed {feed_id}: position {claimed.seq} is ahead of head {head.seq}; reset",
                    )
                )
            )
            return "reset", origin
        return ("resume" if claimed.seq == head.seq else "catch_up"), claimed

    def _drain(self) -> list[str]:
        items = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            assert isinstance(item, str)
            items.append(item)
        return items

    # ------------------------------------------------------------ reading

    async def _receive_text(self) -> str:
        """The next text frame; oversize frames get ``frame_too_large`` and close 4103."""
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text: str | None = message.get("text")
        if text is None:
            raw: bytes = message.get("bytes") or b""
            size = len(raw)
            text = raw.decode("utf-8", errors="replace") if size <= MAX_FRAME_BYTES else ""
        else:
            size = len(text) if len(text) > MAX_FRAME_BYTES else len(text.encode())
        if size > MAX_FRAME_BYTES:
            message_text = f"frame of {size} bytes exceeds the limit of {MAX_FRAME_BYTES}"
            await self._fail(ErrorCode.FRAME_TOO_LARGE, message_text, CloseCode.FRAME_TOO_LARGE)
            raise WebSocketDisconnect(CloseCode.FRAME_TOO_LARGE)
        return text

    async def _read_loop(self) -> None:
        errors_in_a_row = 0
        while not self._closed:
            text = await self._receive_text()
            try:
                frame = decode_device_frame(text)
                await self._handle(frame)
                errors_in_a_row = 0
            except ProtocolError as exc:
                errors_in_a_row += 1
                self._queue_text(encode(Error(code=exc.code, message=exc.message, request_id=exc.request_id)))
                if errors_in_a_row >= self.node.settings.max_consecutive_errors:
                    await self.close(CloseCode.PROTOCOL_VIOLATION, "too many bad frames in a row")
                    return

    async def _handle(self, frame: Hello | Ack | Heartbeat | SyncRequest) -> None:
        device = self.device
        assert device is not None
        if isinstance(frame, Ack):
            self._on_ack(frame)
        elif isinstance(frame, Heartbeat):
            async with self.node.db.read() as conn:
                heads = await feeds.heads(conn, list(device.carers))
            self.push_heads(heads)
        elif isinstance(frame, SyncRequest):
            response = await self.node.sync.standard_sync(device, frame)
            for head in response.heads:
                self._heads_seen[head.feed] = max(head.seq, self._heads_seen.get(head.feed, 0))
            self._queue_text(encode(response))
        else:
            raise ProtocolError(ErrorCode.UNEXPECTED_FRAME, "hello was already received")

    def _on_ack(self, ack: Ack) -> None:
        sent = self.sent.get(ack.feed)
        if sent is None:
            raise ProtocolError(ErrorCode.UNKNOWN_FEED, f"feed {ack.feed} is not on this device")
        if ack.epoch != sent.epoch:
            raise ProtocolError(ErrorCode.STALE_EPOCH, f"feed {ack.feed} is in epoch {sent.epoch}, not {ack.epoch}")
        # A sync response may deliver past what was pushed, so compare with the head we
        # know of: anything beyond what this session pushed is checked when flushed.
        if ack.seq > self._known_head(ack.feed):
            raise ProtocolError(
                ErrorCode.POSITION_AHEAD,
                f"ack {ack.seq} is ahead of feed {ack.feed} head {self._known_head(ack.feed)}",
            )
        self.node.acks.record(self.device_id, ack.feed, ack.epoch, ack.seq)

    def _known_head(self, feed_id: str) -> int:
        return max(self.sent[feed_id].seq, self._heads_seen.get(feed_id, 0))

    # ------------------------------------------------------------ writing

    def push_live(self, feed_id: str, epoch: int, seq: int, text: str) -> None:
        self._put(_Live(feed_id, epoch, seq, text))

    def push_heads(self, heads: dict[str, feeds.Head]) -> None:
        self._put(_Heads(heads))

    def _queue_text(self, text: bytes) -> None:
        self._put(text.decode())

    def _put(self, item: _Item) -> None:
        if self._closed:
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            asyncio.get_running_loop().create_task(
                self.close(CloseCode.SLOW_CONSUMER, "send queue full; reconnect and resume")
            )

    async def _write_loop(self) -> None:
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
            self._closed = True
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("device writer failed")
            await self.close(CloseCode.SERVER_SHUTDOWN, "internal error")

    async def _send_live(self, item: _Live) -> None:
        sent = self.sent.get(item.feed)
        if sent is None or item.epoch != sent.epoch or item.seq <= sent.seq:
            return
        if item.seq == sent.seq + 1:
            await self.ws.send_text(item.text)
            self.sent[item.feed] = FeedPosition(feed=item.feed, epoch=sent.epoch, seq=item.seq)
            return
        await self._fill(item.feed)

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
            self._heads_seen[feed_id] = max(seq, self._heads_seen.get(feed_id, 0))
            announced.append(FeedPosition(feed=feed_id, epoch=head.epoch, seq=seq))
        frame = Heartbeat(heads=announced, server_time=to_datetime(self.node.clock.now_ms()))
        await self.ws.send_text(encode(frame).decode())

    async def _fill(self, feed_id: str) -> None:
        """Send stored changes after what this session has sent, until the store's head."""
        while True:
            sent = self.sent[feed_id]
            async with self.node.db.read() as conn:
                frames = await feeds.read_frames(conn, feed_id, sent.epoch, sent.seq, _FILL_PAGE)
            for seq, frame in frames:
                await self.ws.send_text(frame.decode())
                self.sent[feed_id] = FeedPosition(feed=feed_id, epoch=sent.epoch, seq=seq)
            if len(frames) < _FILL_PAGE:
                return
