"""Peer for the fan-out benchmark: python-socketio with its Redis manager on uvicorn,
one room per carer (what a Python team would build instead).

Each client emits ``join`` with its carer id and is put in that carer's room; a control
client emits ``fanout`` and the server emits one ``preferences`` event to every room,
through the Redis manager as it would across nodes.

    python -m bench.peers.socketio_rooms PORT REDIS_URL
"""

from __future__ import annotations

import sys
import time

import socketio
import uvicorn


def main(port: int, redis_url: str) -> None:
    manager = socketio.AsyncRedisManager(redis_url, channel=f"caresync-bench-{port}")
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, cors_allowed_origins=[])
    rooms: set[str] = set()

    @sio.event  # type: ignore[misc]
    async def join(sid: str, carer: str) -> None:
        await sio.enter_room(sid, carer)
        rooms.add(carer)

    @sio.event  # type: ignore[misc]
    async def fanout(sid: str) -> None:
        payload = {"type": "preferences", "sent_at": time.time(), "pad": "x" * 180}
        for room in rooms:
            await sio.emit("preferences", payload, room=room)

    app = socketio.ASGIApp(sio)
    print("ready", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws_per_message_deflate=False)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
