"""One device's WebSocket: hello/welcome, ordered pushes, acks, heartbeats and sync."""

from __future__ import annotations

import uuid
from collections.abc import Coroutine
from typing import Any

from starlette.websockets import WebSocket

from protocol import MAX_FRAME_BYTES, PROTOCOL_VERSION
from protocol.codec import decode_device_frame
from protocol.errors import CloseCode, ErrorCode, ProtocolError
from protocol.frames import (
    Ack,
    CleanSyncRequest,
    DeviceFrame,
    FeedPosition,
    FeedStatus,
    Heartbeat,
    Hello,
    Seen,
    SyncRequest,
    TenantPreferences,
    Welcome,
)
from protocol.request_id import find_request_id
from protocol.session import AckReceived, RecordAck, ResyncAsked, SyncAnswered, resumes_at_heads
from server.clock import to_datetime
from server.ids import hash_token
from server.observability.logs import bind
from server.services import feeds
from server.services.errors import Revoked, Unauthorized
from server.services.identity import DeviceIdentity, admitted
from server.services.preferences import tenant_channel
from server.services.token_bucket import Rate
from server.ws.context import SocketContext
from server.ws.feed_socket import FeedSocket, text_of
from server.ws.frame_budget import FrameBudget, Verdict
from server.ws.wire import Wire


class DeviceSocket(FeedSocket):
    __slots__ = ("_budget", "_resync_reason", "_token_hash", "_welcomed", "device", "node")
    hello_type = Hello

    def __init__(self, websocket: WebSocket | Wire, node: SocketContext) -> None:
        super().__init__(websocket, node.settings, node.db, node.clock, feeds.CARERS, node.hub.messages)
        settings = node.settings
        self.node = node
        self.device: DeviceIdentity | None = None
        self._token_hash = ""
        """The hash of the hello's token, once a hello arrived."""
        self._welcomed = False
        self._resync_reason: str | None = None
        self._budget = FrameBudget(Rate(settings.device_frames_per_s, settings.device_frame_burst), self.opened_at_ms)

    @property
    def device_id(self) -> str:
        assert self.device is not None
        return self.device.device_id

    @property
    def device_key(self) -> str | None:
        return self.device.device_id if self.device else None

    @property
    def channels(self) -> list[str]:
        if self.device is None:
            return []
        return [*(feeds.CARERS.channel(f) for f in self.device.carers), tenant_channel(self.device.tenant_id)]

    def demand_resync(self, reason: str) -> None:
        if not self._welcomed:  # registered, welcome not queued yet: asked right after it
            self._resync_reason = reason
            return
        self.streamer.run_commands(self.streamer.session.handle(ResyncAsked(reason=reason)))

    def decode(self, text: str | bytes) -> DeviceFrame | _OverBudget:
        """The frame, or, beyond the socket's frame budget, a note of that (not decoded)."""
        verdict = self._budget.judge(len(text), self.node.clock.now_ms())
        if verdict is not Verdict.ADMIT:
            return _OverBudget(verdict, text)
        return decode_device_frame(text)

    async def greet(self, hello: Hello) -> bool:
        """Authenticate, follow the device's feeds, then answer with the heads.

        Identify, follow (:meth:`Hub.follow`: the feeds are followed on the bus before the
        heads are known, so a change committed at any point of the greeting reaches the
        socket, in the heads or as a live push held until the welcome), welcome, settle.
        At most one store connection is used, none when the identity, the heads and the
        preferences are all in the node's memory.
        """
        node = self.node
        if hello.protocol_version != PROTOCOL_VERSION:
            await self.fail(
                ErrorCode.UNSUPPORTED_VERSION,
                f"protocol_version {hello.protocol_version} unsupported; server speaks {PROTOCOL_VERSION}",
                CloseCode.UNSUPPORTED_VERSION,
            )
            return False
        self._token_hash = hash_token(hello.token)
        if await self.refused_while_cooling_off(node.cooling_off, self._token_hash):
            return False
        try:
            device = await self._identify(self._token_hash)
        except Revoked as exc:
            await self.fail(ErrorCode.DEVICE_REVOKED, exc.message, CloseCode.DEVICE_REVOKED)
            return False
        except Unauthorized as exc:
            await self.fail(ErrorCode.AUTH_FAILED, exc.message, CloseCode.AUTH_FAILED)
            return False
        if device.uuid is None or device.uuid != _canonical(hello.device_uuid):
            node.activity.record_call(device.device_id, ok=False, error_code=ErrorCode.AUTH_FAILED)
            await self.fail(ErrorCode.AUTH_FAILED, "token belongs to another device uuid", CloseCode.AUTH_FAILED)
            return False
        self.device = device
        channels = _channels(device)
        # Read before anything is replaced: a hello the store cannot answer now is refused
        # (4003) and leaves the device's working socket alone.
        preferences = await self._preferences(device)
        previous = node.hub.device_socket(device.device_id)
        if previous is not None:  # closed first, so that its feeds stay followed up to the registration
            await previous.close(CloseCode.REPLACED, "another connection of this device took over")

        async def greeting_heads(known: dict[str, feeds.Head] | None) -> dict[str, feeds.Head]:
            cached = _cached_heads_at(known, hello)
            return cached if cached is not None else await node.hub.reads.heads.get(list(device.carers))

        heads = await node.hub.follow(self, channels, greeting_heads)
        bind(tenant=device.tenant_id, device=device.device_id, carer=",".join(sorted(device.carers)) or None)
        statuses, acks = self.start_feeds(
            hello.positions, {f: heads[f] for f in device.carers}, resync=device.resync_requested
        )
        for ack in acks:
            node.activity.record_position(device.device_id, ack.reported, ack.head)
        welcome = Welcome(
            device_id=device.device_id,
            server_time=to_datetime(node.clock.now_ms()),
            feeds=[
                FeedStatus(
                    feed=f, carer_name=name, epoch=statuses[f].epoch, head=statuses[f].head, action=statuses[f].action
                )
                for f, name in device.carers.items()
            ],
            preferences=preferences,
            heartbeat_interval_s=node.settings.heartbeat_interval_s,
            max_frame_bytes=MAX_FRAME_BYTES,
        )
        self.streamer.session.max_unacked = node.settings.max_unacked
        self.send_welcome(welcome)
        self._welcomed = True
        node.hub.settle(self, channels, heads)
        if self._resync_reason is not None:
            self.demand_resync(self._resync_reason)
        node.activity.record_call(device.device_id, ok=True, app_version=hello.app_version)
        return True

    async def _identify(self, token_hash: str) -> DeviceIdentity:
        """The device, from the node's identity cache or the store. A socket admitted from
        the cache counts as opened when that identity was read: effects made since reach it."""
        identities = self.node.effects.identities
        now = self.node.clock.now_ms()
        cached = identities.get(token_hash, now)
        if cached is not None:
            self.opened_at_ms = min(self.opened_at_ms, cached.read_at_ms)
            return cached.identity
        generation = identities.generation
        rows = (await self.node.hub.reads.identities.get([token_hash])).get(token_hash, [])
        device = admitted(rows)
        identities.store(token_hash, device, now, generation)
        return device

    async def _preferences(self, device: DeviceIdentity) -> TenantPreferences:
        return await self.node.preferences.read(self.node.db, device.tenant_id)

    def on_closed(self) -> None:
        self.node.hub.unregister(self)

    def frame_arrived(self, data: str | bytes) -> Coroutine[Any, Any, None] | None:
        """Acks, heartbeats answered from the heads in memory and refusals are handled at
        once; sync requests, seen frames and the rest return the coroutine handling them."""
        try:
            frame = self.decode(text_of(data))
        except ProtocolError as exc:
            return self.refuse(exc)
        try:
            if isinstance(frame, Ack):
                self._on_ack(frame)
            elif isinstance(frame, Heartbeat) and (heads := self._cached_heads()) is not None:
                self.streamer.push_heads(heads)
            elif isinstance(frame, _OverBudget) and frame.verdict is not Verdict.CLOSE:
                self._refuse_now(frame)
            else:
                return self.handle(frame)
        except ProtocolError as exc:
            return self.refuse(exc)
        self.reset_errors()
        return None

    async def on_frame(self, frame: DeviceFrame | _OverBudget) -> None:
        device = self.device
        assert device is not None
        if isinstance(frame, _OverBudget):
            await self._refuse(frame)
        elif isinstance(frame, Ack):
            self._on_ack(frame)
        elif isinstance(frame, Heartbeat):
            self.streamer.push_heads(await self._heads(device))
        elif isinstance(frame, CleanSyncRequest):
            self.streamer.send_frame(await self.node.clean_sync.serve(device, frame))
        elif isinstance(frame, Seen):
            self.streamer.send_frame(await self.node.seen.record(device, frame))
        elif isinstance(frame, SyncRequest):
            response = await self.node.sync.standard_sync(device, frame)
            self.streamer.session.handle(SyncAnswered(heads=tuple(response.heads)))
            self.streamer.send_frame(response)
        else:
            raise ProtocolError(ErrorCode.UNEXPECTED_FRAME, "hello was already received")

    def _cached_heads(self) -> dict[str, feeds.Head] | None:
        """The device's heads from the node's cache, if it has them all in the epochs the
        session knows."""
        assert self.device is not None
        heads = self.node.hub.heads.known(_channels(self.device))
        if heads is not None and self.streamer.session.same_epochs(_positions(heads)):
            return heads
        return None

    async def _heads(self, device: DeviceIdentity) -> dict[str, feeds.Head]:
        """Heads from the node's cache; the database only on a miss or an epoch change."""
        heads = self._cached_heads()
        if heads is not None:
            return heads
        async with self.node.db.read() as conn:
            heads = await feeds.heads(conn, list(device.carers))
        for feed_id, head in heads.items():
            self.node.hub.heads.store(feeds.CARERS.channel(feed_id), head)
        return heads

    async def _refuse(self, frame: _OverBudget) -> None:
        """A frame beyond the budget: not handled; the device is told, and closed if it keeps on."""
        limit = f"{self.settings.device_frames_per_s:g} frames a second"
        if frame.verdict is Verdict.CLOSE:
            await self.close_for_flooding(self.node.cooling_off, self._token_hash, limit)
            return
        self._refuse_now(frame)

    def _refuse_now(self, frame: _OverBudget) -> None:
        """Answer a frame beyond the budget with ``rate_limited`` (the socket stays open)."""
        limit = f"{self.settings.device_frames_per_s:g} frames a second"
        text = frame.text
        request_id = find_request_id(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
        self.send_error(ErrorCode.RATE_LIMITED, f"frame not handled: over {limit}; send it again later", request_id)

    def _on_ack(self, ack: Ack) -> None:
        for command in self.streamer.session.handle(AckReceived(feed=ack.feed, epoch=ack.epoch, seq=ack.seq)):
            if isinstance(command, RecordAck):
                self.node.activity.record_position(self.device_id, command.reported, command.head)


class _OverBudget:
    """A frame the socket's budget refused (its text kept to find its request id)."""

    __slots__ = ("text", "verdict")

    def __init__(self, verdict: Verdict, text: str | bytes) -> None:
        self.verdict = verdict
        self.text = text


def _channels(device: DeviceIdentity) -> dict[str, str]:
    return {f: feeds.CARERS.channel(f) for f in device.carers}


def _cached_heads_at(cached: dict[str, feeds.Head] | None, hello: Hello) -> dict[str, feeds.Head] | None:
    """The cached heads, if the device resumes every feed exactly at its cached head;
    otherwise None and the greeting reads them."""
    if cached is None or not resumes_at_heads(hello.positions, _positions(cached)):
        return None
    return cached


def _positions(heads: dict[str, feeds.Head]) -> list[FeedPosition]:
    return [FeedPosition(feed=f, epoch=h.epoch, seq=h.seq) for f, h in heads.items()]


def _canonical(device_uuid: str) -> str:
    try:
        return str(uuid.UUID(device_uuid))
    except ValueError:
        return device_uuid
