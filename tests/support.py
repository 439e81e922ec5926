"""Helpers shared by tests."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from client_sdk import Device
from client_sdk.backoff import Backoff
from protocol import PROTOCOL_VERSION
from protocol.codec import ConsoleServerFrame, decode_console_server_frame, decode_server_frame, encode
from protocol.console import ConsoleEvent, ConsoleHello, ConsoleWelcome
from protocol.frames import FeedPosition, Hello, ServerFrame, VisitView, Welcome
from server.node import Node
from server.seeding import SeededCarer
from server.services.identity import Staff
from server.store.schema import device_acks
from tests.conftest import RunningServer


async def acked_seq(node: Node, device_id: str, carer_id: str) -> int | None:
    """The ack position recorded in the store (not in memory) for a device and feed."""
    async with node.db.read() as conn:
        row = (
            await conn.execute(
                select(device_acks.c.seq).where(
                    device_acks.c.device_id == device_id, device_acks.c.carer_id == carer_id
                )
            )
        ).first()
    return None if row is None else int(row.seq)


async def eventually(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` is truthy; fail with a clear message after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


async def make_device(running: RunningServer, carer: SeededCarer, tmp_path: Path, *, start: bool = True) -> Device:
    device = Device(
        running.ws_url,
        carer.device_token,
        carer.device_uuid,
        tmp_path / f"{carer.device_uuid}.db",
        backoff=Backoff(base_s=0.05, cap_s=0.5),
    )
    if start:
        await device.start()
    return device


async def server_visits(node: Node, admin: Staff, carer_id: str) -> list[VisitView]:
    """The carer's current visits as the server holds them, in the device's order."""
    far = timedelta(days=3650)
    now = datetime.now(UTC)
    visits = await node.rota.carer_visits(admin, carer_id, now - far, now + far)
    return sorted(visits, key=lambda v: (v.starts_at, v.id))


async def device_matches_server(device: Device, node: Node, admin: Staff, carer_id: str) -> bool:
    return device.visits(carer_id) == await server_visits(node, admin, carer_id)


class _RawSocket:
    """What the hand-spoken sockets share: waiting for the server's close, closing."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def close_code(self, timeout: float = 5.0) -> int | None:
        """Read until the server closes; return its close code."""
        async with asyncio.timeout(timeout):
            try:
                while True:
                    await self.ws.recv()
            except ConnectionClosed:
                pass
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()


class RawDevice(_RawSocket):
    """A bare socket speaking the protocol by hand, for bad-input and cut-off tests."""

    @classmethod
    async def connect(cls, running: RunningServer) -> RawDevice:
        return cls(await connect(running.ws_url, max_size=4 * 1024 * 1024))

    async def hello(self, carer: SeededCarer, positions: list[FeedPosition] | None = None) -> Welcome:
        await self.send(
            Hello(
                token=carer.device_token,
                device_uuid=carer.device_uuid,
                app_version="raw/1",
                protocol_version=PROTOCOL_VERSION,
                positions=positions or [],
            )
        )
        frame = await self.receive_until(Welcome)
        assert isinstance(frame, Welcome)
        return frame

    async def send(self, frame: msgspec.Struct) -> None:
        await self.ws.send(encode(frame).decode())

    async def send_text(self, text: str) -> None:
        await self.ws.send(text)

    async def receive(self, timeout: float = 5.0) -> ServerFrame:
        async with asyncio.timeout(timeout):
            return decode_server_frame(await self.ws.recv())

    async def receive_until(self, kind: type, timeout: float = 5.0) -> ServerFrame:
        """Skip frames of other types (pushes, heartbeats) until one of ``kind``."""
        async with asyncio.timeout(timeout):
            while True:
                frame = decode_server_frame(await self.ws.recv())
                if isinstance(frame, kind):
                    return frame


class RawConsole(_RawSocket):
    """The office console's live feed, spoken by hand."""

    def __init__(self, ws: ClientConnection) -> None:
        super().__init__(ws)
        self.positions: dict[str, FeedPosition] = {}

    @classmethod
    async def connect(cls, running: RunningServer) -> RawConsole:
        return cls(await connect(running.console_url, max_size=4 * 1024 * 1024))

    async def hello(self, token: str, positions: list[FeedPosition] | None = None) -> ConsoleWelcome:
        await self.ws.send(encode(ConsoleHello(token=token, positions=positions or [])).decode())
        frame = await self.receive()
        assert isinstance(frame, ConsoleWelcome), frame
        return frame

    async def receive(self, timeout: float = 5.0) -> ConsoleServerFrame:
        async with asyncio.timeout(timeout):
            frame = decode_console_server_frame(await self.ws.recv())
        if isinstance(frame, ConsoleEvent):
            self.positions[frame.feed] = FeedPosition(feed=frame.feed, epoch=frame.epoch, seq=frame.seq)
        return frame

    async def next_event(self, kinds: tuple[type, ...] = (), timeout: float = 5.0) -> ConsoleEvent:
        """The next event (of one of ``kinds``, if given), skipping heartbeats."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.receive(timeout)
                if isinstance(frame, ConsoleEvent) and (not kinds or isinstance(frame.event, kinds)):
                    return frame

    async def events_for(self, seconds: float) -> list[ConsoleEvent]:
        """Every event that arrives within ``seconds``."""
        found: list[ConsoleEvent] = []
        try:
            async with asyncio.timeout(seconds):
                while True:
                    frame = await self.receive(seconds)
                    if isinstance(frame, ConsoleEvent):
                        found.append(frame)
        except TimeoutError:
            pass
        return found
