"""A device effect the node sees while a reconnect of the device replaces its old socket
on this node reaches the new socket too, not only the old one being closed."""

from __future__ import annotations

import pytest

from protocol import PROTOCOL_VERSION
from protocol.errors import CloseCode
from protocol.frames import Hello, ServerFrame, Welcome
from server.ids import hash_token
from server.node import Node
from server.seeding import SeededCarer, seed_agency
from server.settings import Settings
from server.ws.feed_socket import FeedSocket
from tests.conftest import RunningServer
from tests.support import RawDevice, eventually


async def _greeted(running: RunningServer, carer: SeededCarer) -> tuple[RawDevice, ServerFrame]:
    raw = await RawDevice.connect(running)
    hello = Hello(
        token=carer.device_token,
        device_uuid=carer.device_uuid,
        app_version="raw/1",
        protocol_version=PROTOCOL_VERSION,
        positions=[],
    )
    await raw.send(hello)
    return raw, await raw.receive()


async def test_a_revocation_seen_while_a_reconnect_replaces_the_old_socket_closes_the_new_one(
    running: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = running.node
    agency = await seed_agency(node, carers=1, visits_per_carer=1)
    carer = agency.carers[0]
    _old, first = await _greeted(running, carer)
    assert isinstance(first, Welcome)
    await eventually(lambda: node.effects.identities.get(hash_token(carer.device_token), node.clock.now_ms()))
    elsewhere = Node.build(Settings(database_url=node.settings.database_url))  # another process: its own bus
    await node.effects.stop()  # the node sees the revocation only when the test polls
    try:
        await elsewhere.devices.revoke(agency.tenant_id, carer.device_id)
        previous = node.hub.device_socket(carer.device_id)
        assert isinstance(previous, FeedSocket)
        close = type(previous).close
        polled = False

        async def seen_while_replaced(self: FeedSocket, code: CloseCode, reason: str) -> None:
            # The greeting of the reconnect closes the old socket first; the node's poll
            # sees the revocation meanwhile (closing waits on the peer's close frame).
            nonlocal polled
            if self is previous and not polled:
                polled = True
                await node.effects.step()
            await close(self, code, reason)

        # sockets are slotted: the old socket's close is replaced on its class, for it alone
        monkeypatch.setattr(type(previous), "close", seen_while_replaced)
        new, first = await _greeted(running, carer)
        assert polled
        assert isinstance(first, Welcome), "read before the node saw the revocation: admitted inside the window"
        await node.effects.step()  # the next poll
        assert await new.close_code() == CloseCode.DEVICE_REVOKED
    finally:
        node.effects.start()
        await elsewhere.db.close()
