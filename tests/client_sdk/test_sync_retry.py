"""A server whose answers the app cannot read (a version it does not know) fails every
request at once while the socket stays up. The device backs off between its attempts
instead of asking again at once, and an unreadable answer to a clean sync does not ask
for one more clean sync: the one that failed is retried."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from client_sdk import Device
from protocol.codec import encode
from protocol.frames import SyncResponse

ATTEMPTS = 6
FEED = "carer-1"


class UnreadableServer:
    """Stands for the device's socket: answers each request at once, with a frame this app
    cannot decode (the clean syncs only, or every request). Stops answering after
    ``limit`` requests, so a device that never backs off ends the test instead of spinning."""

    def __init__(self, *, sync_readable: bool, limit: int) -> None:
        self.sync_readable = sync_readable
        self.limit = limit
        self.requests: list[str] = []
        self.flooded = asyncio.Event()
        self._answers: asyncio.Queue[str] = asyncio.Queue()

    async def send(self, text: str) -> None:
        frame = json.loads(text)
        if frame["type"] == "hello":
            return
        self.requests.append(frame["type"])
        if len(self.requests) >= self.limit:
            self.flooded.set()
            return
        request_id = frame["request_id"]
        if frame["type"] == "sync_request" and self.sync_readable:
            answer = encode(SyncResponse(request_id=request_id, results=[], changes=[], heads=[])).decode()
        else:
            kind = frame["type"].replace("request", "response")
            answer = json.dumps({"type": kind, "request_id": request_id, "feed": frame.get("feed"), "epoch": "new"})
        self._answers.put_nowait(answer)

    async def recv(self) -> str:
        return await self._answers.get()


@pytest.mark.parametrize("sync_readable", [True, False], ids=["clean syncs unreadable", "every answer unreadable"])
async def test_failed_background_syncs_back_off_while_the_socket_is_up(tmp_path: Path, sync_readable: bool) -> None:
    device = Device("ws://127.0.0.1:1/ws/device", "token", "device-1", tmp_path / "device.db")
    device.store.ensure_feed(FEED, 1, "Ann")
    per_attempt = 2 if sync_readable else 1  # a clean sync uploads with a standard sync first
    server = UnreadableServer(sync_readable=sync_readable, limit=3 * per_attempt * ATTEMPTS)
    delays: list[float] = []
    backed_off = asyncio.Event()

    async def pause(delay: float) -> None:
        delays.append(delay)
        if len(delays) >= ATTEMPTS:
            backed_off.set()
            await asyncio.Event().wait()

    device._pause = pause
    unreadable: list[str | None] = []
    on_undecodable = device._on_undecodable

    async def counted(feed: str | None) -> None:
        unreadable.append(feed)
        await on_undecodable(feed)

    device.link.on_undecodable = counted
    device.link._ws = server  # type: ignore[assignment]
    tasks = [asyncio.create_task(device.link._serve(server))]  # type: ignore[arg-type]
    device.link.welcomed(None)
    await device._on_undecodable(FEED)  # a pushed frame it could not read: clean-sync the feed
    tasks.append(asyncio.create_task(device._background()))
    done, _ = await asyncio.wait(
        [asyncio.create_task(backed_off.wait()), asyncio.create_task(server.flooded.wait())],
        return_when=asyncio.FIRST_COMPLETED,
    )
    try:
        assert not server.flooded.is_set(), f"{len(server.requests)} requests without a pause: {delays}"
        assert len(server.requests) == per_attempt * ATTEMPTS
        assert device.session.wanted_clean == {FEED}
        for attempt, delay in enumerate(delays):
            ceiling = min(device.sync_retry.cap_s, device.sync_retry.base_s * 2**attempt)
            assert ceiling / 2 <= delay <= ceiling
        # an unreadable clean-sync answer fails that clean sync and asks for no other one
        assert unreadable == ([] if sync_readable else [None] * ATTEMPTS)
    finally:
        for task in [*tasks, *done]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await device.stop()
