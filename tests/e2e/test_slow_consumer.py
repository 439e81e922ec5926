"""A device that stops reading is closed as a slow consumer (4001) within the send-stall
limit, well before any keepalive (60 s ping + 20 s timeout) would end the connection, so
when it reads again it finds the documented code, not an abnormal close."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from protocol.errors import CloseCode
from server.node import Node
from server.seeding import seed_agency
from server.ws.feed_socket import FeedSocket
from tests.conftest import start_server, stop_server
from tests.conftest import test_settings as settings_for
from tests.support import RawDevice, eventually


async def test_a_device_that_stops_reading_sees_4001(tmp_path: Path) -> None:
    node = Node.build(settings_for(tmp_path, send_stall_s=1.0))
    running = await start_server(node)
    try:
        agency = await seed_agency(node, carers=1)
        carer = agency.carers[0]
        small = socket.socket()  # a small receive window from the start: the server's sends back up soon
        small.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        small.connect(("127.0.0.1", running.port))
        raw = RawDevice(await connect(running.ws_url, sock=small, max_size=4 * 1024 * 1024, ping_interval=None))
        await raw.hello(carer)
        raw.ws.transport.pause_reading()  # the app stops reading; its keepalive is not involved
        before = FeedSocket.slow_consumers_closed
        for n in range(400):  # megabytes of pushes: more than the socket buffers hold
            await node.rota.update_notes_by_token(agency.admin_token, carer.visit_ids[0], f"{n} " + "n" * 9_000)
            if FeedSocket.slow_consumers_closed > before:
                break
        await eventually(lambda: FeedSocket.slow_consumers_closed > before, timeout=10)
        raw.ws.transport.resume_reading()
        try:
            async with asyncio.timeout(20):
                while True:
                    await raw.ws.recv()
        except ConnectionClosed:
            pass
        assert raw.ws.close_code == CloseCode.SLOW_CONSUMER, raw.ws.close_code
    finally:
        await stop_server(running)
