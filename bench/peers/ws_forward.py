"""Peer for the push-latency benchmark: a bare ``websockets`` server that forwards.

Devices connect and send their carer id; a control connection sends ``{"carer": id}``
messages, and the server stamps its time and forwards a change-sized frame to that
carer's socket. No database, no HTTP: the transport's lower bound for one push.

    python -m bench.peers.ws_forward PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from websockets.asyncio.server import ServerConnection, serve

PAD = "x" * 600


async def main(port: int) -> None:
    sockets: dict[str, ServerConnection] = {}

    async def handler(ws: ServerConnection) -> None:
        first = json.loads(await ws.recv())
        if first.get("role") == "control":
            async for message in ws:
                carer = json.loads(message)["carer"]
                target = sockets.get(carer)
                if target is not None:
                    frame = json.dumps({"type": "change", "feed": carer, "committed_at": time.time(), "pad": PAD})
                    await target.send(frame)
            return
        sockets[first["carer"]] = ws
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", port, compression=None):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
