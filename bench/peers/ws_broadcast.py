"""Peer for the fan-out benchmark: a bare ``websockets`` server that broadcasts.

Clients connect and send one message; a control connection (first message ``control``)
sends ``fanout`` and the server sends one ~250-byte frame to every client with
``websockets.broadcast``: the practical upper bound for Python.

    python -m bench.peers.ws_broadcast PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from websockets.asyncio.server import ServerConnection, broadcast, serve


async def main(port: int) -> None:
    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        first = await ws.recv()
        if first == "control":
            async for _message in ws:
                frame = json.dumps({"type": "preferences", "sent_at": time.time(), "pad": "x" * 180})
                broadcast(clients, frame)
            return
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    async with serve(handler, "127.0.0.1", port, compression=None, max_queue=16):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
