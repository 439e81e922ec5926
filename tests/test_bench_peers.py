"""The fan-out benchmark's broadcast peers (bench/peers/*_broadcast.py, by the names of
bench/broadcast_peers.py): each one started as bench/fanout.py starts it, three clients
and a control socket connected, a broadcast triggered, and every client (not the control
socket) gets the frame."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bench.broadcast_peers import PEERS as BROADCAST_PEERS
from bench.broadcast_peers import BroadcastPeer
from loadtest.lean_socket import CloseInfo, LeanSocket
from loadtest.measure import free_port

ROOT = Path(__file__).resolve().parent.parent

PEERS = [
    pytest.param(
        spec,
        id=name,
        marks=pytest.mark.skipif(
            bool(spec.missing()), reason=f"optional, not installed: {', '.join(spec.missing())} (pip install picows)"
        ),
    )
    for name, spec in BROADCAST_PEERS.items()
]
"""Every peer ``bench.fanout --peers`` can run; one needing a package that is not
installed is skipped, saying which."""


@pytest.fixture(params=PEERS)
async def peer_port(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    port = free_port()
    spec: BroadcastPeer = request.param
    process = subprocess.Popen(
        [sys.executable, *spec.module_args(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        assert process.stdout is not None
        first = await asyncio.to_thread(process.stdout.readline)
        assert first == b"ready\n", first + process.stdout.read()
        yield port
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


async def test_every_client_gets_the_broadcast_and_the_control_socket_does_not(peer_port: int) -> None:
    url = f"ws://127.0.0.1:{peer_port}/"
    received: list[list[str]] = [[], [], []]
    closes: list[CloseInfo] = []
    clients = []
    for inbox in received:
        client = await LeanSocket.open(url, inbox.append, closes.append, timeout=10)
        client.send("hello")
        clients.append(client)
    to_control: list[str] = []
    control = await LeanSocket.open(url, to_control.append, closes.append, timeout=10)
    control.send("control")

    # A client counts once the server has read its first message, which may come after a
    # trigger sent on another socket: trigger until every client has had one.
    deadline = time.monotonic() + 10
    while not all(received):
        assert time.monotonic() < deadline, f"not every client got the broadcast: {received}"
        control.send("fanout")
        await asyncio.sleep(0.1)

    for inbox in received:
        frame = json.loads(inbox[0])
        assert frame["type"] == "preferences"
        assert len(inbox[0]) > 200
    assert to_control == []

    # The closing handshake: every socket gets the server's close frame back.
    for client in [*clients, control]:
        client.close()
    deadline = time.monotonic() + 10
    while len(closes) < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert [info.how for info in closes] == ["close_frame"] * 4, closes
