"""The node-local registry of device sessions, bus subscriptions and heartbeats."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from protocol.errors import CloseCode
from server.bus import envelope
from server.bus.base import Bus, device_control_channel
from server.cluster.presence import Presence
from server.services import feeds
from server.store.database import Database

if TYPE_CHECKING:
    from server.ws.device_session import DeviceSession

log = logging.getLogger(__name__)

REVOKE = b"revoke"


class Hub:
    def __init__(self, db: Database, bus: Bus, heartbeat_interval_s: float, presence: Presence) -> None:
        self.db = db
        self.bus = bus
        self.presence = presence
        self.heartbeat_interval_s = heartbeat_interval_s
        self._by_channel: dict[str, set[DeviceSession]] = {}
        self._by_device: dict[str, DeviceSession] = {}
        self._ticker: asyncio.Task[None] | None = None
        bus.set_handler(self._on_message)

    @property
    def session_count(self) -> int:
        return len(self._by_device)

    def is_connected(self, device_id: str) -> bool:
        return device_id in self._by_device

    def start(self) -> None:
        self._ticker = asyncio.create_task(self._heartbeats(), name="heartbeats")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        for session in list(self._by_device.values()):
            await session.close(CloseCode.SERVER_SHUTDOWN, "server shutting down")

    async def register(self, session: DeviceSession) -> None:
        previous = self._by_device.get(session.device_id)
        if previous is not None:
            await previous.close(CloseCode.REPLACED, "another connection of this device took over")
            self.unregister(previous)
        self._by_device[session.device_id] = session
        self.presence.connected(session.device_id)
        fresh = []
        for channel in session.channels:
            members = self._by_channel.setdefault(channel, set())
            if not members:
                fresh.append(channel)
            members.add(session)
        await self.bus.subscribe([*fresh, device_control_channel(session.device_id)])

    def unregister(self, session: DeviceSession) -> None:
        if self._by_device.get(session.device_id) is session:
            del self._by_device[session.device_id]
            self.presence.disconnected(session.device_id)
            asyncio.get_running_loop().create_task(self.bus.unsubscribe([device_control_channel(session.device_id)]))
        idle = []
        for channel in session.channels:
            members = self._by_channel.get(channel)
            if members is not None:
                members.discard(session)
                if not members:
                    del self._by_channel[channel]
                    idle.append(channel)
        if idle:
            asyncio.get_running_loop().create_task(self.bus.unsubscribe(idle))

    async def disconnect_device(self, device_id: str) -> None:
        """Close the device's socket wherever it is: ring its control channel."""
        await self.bus.publish(device_control_channel(device_id), REVOKE)

    def _on_message(self, channel: str, payload: bytes) -> None:
        kind, _, key = channel.partition(":")
        members = self._by_channel.get(channel)
        if members:
            epoch, seq, frame = envelope.unpack(payload)
            text = frame.decode()
            for session in list(members):
                session.streamer.push_live(key, epoch, seq, text)
        elif kind == "device" and payload == REVOKE:
            target = self._by_device.get(key)
            if target is not None:
                asyncio.get_running_loop().create_task(target.close(CloseCode.DEVICE_REVOKED, "device revoked"))

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval_s)
            try:
                await self.beat()
            except Exception:
                log.exception("heartbeat round failed")

    async def beat(self) -> None:
        """Send every session its feed heads, read in one batched query per node."""
        carer_ids = [c.partition(":")[2] for c in self._by_channel if c.startswith("feed:")]
        if not carer_ids:
            return
        async with self.db.read() as conn:
            heads = await feeds.heads(conn, carer_ids)
        for session in list(self._by_device.values()):
            assert session.device is not None
            session.streamer.push_heads({f: heads[f] for f in session.device.carers if f in heads})
