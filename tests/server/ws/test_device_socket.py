"""The device socket on a started node, without a network: a Starlette ``WebSocket`` over an
ASGI receive/send the test drives (the streamer's tests do the same for the streamer)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.websockets import WebSocket

from protocol.codec import encode
from protocol.frames import Ack, FeedPosition, Hello
from server.node import Node
from server.seeding import SeededAgency, seed_agency
from server.services.mismatch import acks_view
from server.ws.device_socket import DeviceSocket
from tests.conftest import test_settings as settings_for
from tests.support import eventually


class Peer:
    """The device's side of the ASGI socket: what it sends is queued, what it gets is kept."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.inbox.put_nowait({"type": "websocket.connect"})
        self.got: list[dict[str, Any]] = []
        self.closed: dict[str, Any] | None = None

    def say(self, frame: Any) -> None:
        self.inbox.put_nowait({"type": "websocket.receive", "text": encode(frame).decode()})

    def hang_up(self) -> None:
        self.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.close":
            self.closed = message
        elif message["type"] == "websocket.send":
            self.got.append(json.loads(message["text"]))

    def frames(self, frame_type: str) -> list[dict[str, Any]]:
        return [f for f in self.got if f.get("type") == frame_type]


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    built = Node.build(settings_for(tmp_path))
    await built.start()
    yield built
    await built.stop()


def _socket(node: Node, peer: Peer) -> DeviceSocket:
    scope = {"type": "websocket", "path": "/ws/device", "headers": [], "query_string": b"", "subprotocols": []}
    return DeviceSocket(WebSocket(scope, peer.receive, peer.send), node)


async def _greeted(node: Node, agency: SeededAgency, peer: Peer) -> asyncio.Task[None]:
    carer = agency.carers[0]
    peer.say(Hello(token=carer.device_token, device_uuid=carer.device_uuid, app_version="t/1", protocol_version=1))
    running = asyncio.create_task(_socket(node, peer).run())
    await eventually(lambda: bool(peer.frames("welcome")))
    return running


async def test_welcomed_replayed_pushed_and_acked(node: Node) -> None:
    agency = await seed_agency(node, carers=1, clients=1, visits_per_carer=2)
    carer, peer = agency.carers[0], Peer()
    running = await _greeted(node, agency, peer)
    try:
        [welcome] = peer.frames("welcome")
        head = welcome["feeds"][0]["head"]
        assert welcome["feeds"][0]["action"] == "catch_up"
        await eventually(lambda: [c["seq"] for c in peer.frames("change")] == list(range(1, head + 1)))

        visit = await node.rota.get_visit(agency.admin, carer.visit_ids[0])
        await node.rota.update_notes_by_token(agency.admin_token, visit.id, "key under the mat")
        await eventually(lambda: [c["seq"] for c in peer.frames("change")][-1:] == [head + 1])

        assert node.hub.is_connected(carer.device_id)

        async def acked_at_head() -> bool:
            await node.activity.flush()
            async with node.db.read() as conn:
                positions = await acks_view.acked_positions(conn, [carer.id])
            return positions[carer.id][2] == head + 1

        peer.say(Ack(feed=carer.id, epoch=1, seq=head + 1))
        await eventually(acked_at_head)
    finally:
        peer.hang_up()
        await asyncio.wait_for(running, 5)
    assert not node.hub.is_connected(carer.device_id), "a socket that hung up is unregistered"


async def test_a_position_ahead_is_answered_with_a_reset(node: Node) -> None:
    agency = await seed_agency(node, carers=1, clients=1, visits_per_carer=1)
    carer, peer = agency.carers[0], Peer()
    ahead = [FeedPosition(feed=carer.id, epoch=1, seq=99)]
    peer.say(Hello(token=carer.device_token, device_uuid=carer.device_uuid, app_version="t/1", protocol_version=1,
                   positions=ahead))  # fmt: skip
    running = asyncio.create_task(_socket(node, peer).run())
    try:
        await eventually(lambda: bool(peer.frames("welcome")))
        assert peer.frames("welcome")[0]["feeds"][0]["action"] == "reset"
        assert [e["code"] for e in peer.frames("error")] == ["position_ahead"]
    finally:
        peer.hang_up()
        await asyncio.wait_for(running, 5)
