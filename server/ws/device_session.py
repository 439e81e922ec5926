"""One device's WebSocket: hello/welcome, ordered pushes, acks, heartbeats and sync."""

from __future__ import annotations

import uuid

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
    SyncRequest,
    Welcome,
)
from protocol.session import AckReceived, RecordAck, ResyncAsked, SyncAnswered, resumes_at_heads
from server.clock import to_datetime
from server.observability.logs import bind
from server.services import feeds
from server.services.errors import Revoked, Unauthorized
from server.services.identity import DeviceIdentity, authenticate_device
from server.services.preferences import tenant_channel
from server.ws.context import SessionContext
from server.ws.feed_socket import FeedSocket


class DeviceSession(FeedSocket):
    hello_type = Hello

    def __init__(self, websocket: WebSocket, node: SessionContext) -> None:
        super().__init__(websocket, node.settings, node.db, node.clock, feeds.CARERS)
        self.node = node
        self.device: DeviceIdentity | None = None

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
        self.streamer.run_commands(self.streamer.session.handle(ResyncAsked(reason=reason)))

    def decode(self, text: str) -> DeviceFrame:
        return decode_device_frame(text)

    async def greet(self, hello: Hello) -> bool:
        node = self.node
        if hello.protocol_version != PROTOCOL_VERSION:
            await self.fail(
                ErrorCode.UNSUPPORTED_VERSION,
                f"protocol_version {hello.protocol_version} unsupported; server speaks {PROTOCOL_VERSION}",
                CloseCode.UNSUPPORTED_VERSION,
            )
            return False
        try:
            async with node.db.read() as conn:  # one connection and transaction for the whole greeting
                device = await authenticate_device(conn, hello.token)
                greeting = None
                if device.uuid is not None and device.uuid == _canonical(hello.device_uuid):
                    cached = _cached_heads_at(node.hub.heads.known(_channels(device)), hello)
                    greeting = (
                        cached if cached is not None else await feeds.heads(conn, list(device.carers)),
                        await node.preferences.get(conn, device.tenant_id),
                    )
        except Revoked as exc:
            await self.fail(ErrorCode.DEVICE_REVOKED, exc.message, CloseCode.DEVICE_REVOKED)
            return False
        except Unauthorized as exc:
            await self.fail(ErrorCode.AUTH_FAILED, exc.message, CloseCode.AUTH_FAILED)
            return False
        if greeting is None:
            node.activity.record_call(device.device_id, ok=False, error_code=ErrorCode.AUTH_FAILED)
            await self.fail(ErrorCode.AUTH_FAILED, "token belongs to another device uuid", CloseCode.AUTH_FAILED)
            return False
        heads, preferences = greeting
        self.device = device
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
        await node.hub.register_device(self)
        for feed_id, channel in _channels(device).items():  # followed now: kept current from here
            if feed_id in heads:
                node.hub.heads.store(channel, heads[feed_id])
        node.activity.record_call(device.device_id, ok=True, app_version=hello.app_version)
        return True

    def on_closed(self) -> None:
        self.node.hub.unregister(self)

    async def handle(self, frame: DeviceFrame) -> None:
        device = self.device
        assert device is not None
        if isinstance(frame, Ack):
            self._on_ack(frame)
        elif isinstance(frame, Heartbeat):
            self.streamer.push_heads(await self._heads(device))
        elif isinstance(frame, CleanSyncRequest):
            self.streamer.send_frame(await self.node.clean_sync.serve(device, frame))
        elif isinstance(frame, SyncRequest):
            response = await self.node.sync.standard_sync(device, frame)
            self.streamer.session.handle(SyncAnswered(heads=tuple(response.heads)))
            self.streamer.send_frame(response)
        else:
            raise ProtocolError(ErrorCode.UNEXPECTED_FRAME, "hello was already received")

    async def _heads(self, device: DeviceIdentity) -> dict[str, feeds.Head]:
        """Heads from the node's cache; the database only on a miss or an epoch change."""
        session = self.streamer.session
        heads = self.node.hub.heads.known(_channels(device))
        if heads is not None and session.same_epochs(_positions(heads)):
            return heads
        async with self.node.db.read() as conn:
            heads = await feeds.heads(conn, list(device.carers))
        for feed_id, head in heads.items():
            self.node.hub.heads.store(feeds.CARERS.channel(feed_id), head)
        return heads

    def _on_ack(self, ack: Ack) -> None:
        for command in self.streamer.session.handle(AckReceived(feed=ack.feed, epoch=ack.epoch, seq=ack.seq)):
            if isinstance(command, RecordAck):
                self.node.activity.record_position(self.device_id, command.reported, command.head)


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
