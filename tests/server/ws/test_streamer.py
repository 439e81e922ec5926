"""The streamer sends a frame straight to an idle socket, in the caller's step; a send that
has to wait hands what follows to a writer task, in order, and the task ends when its
queue is empty. Slow consumers are still closed with 4001."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

from starlette.websockets import WebSocket

from protocol.errors import CloseCode
from server.clock import ManualClock
from server.services import feeds
from server.store.database import Database
from server.ws.streamer import FeedStreamer
from tests.support import eventually


class FakeSocket:
    """An ASGI send that records texts, and blocks while ``gate`` is clear (a full write buffer)."""

    def __init__(self) -> None:
        self.scope: dict[str, Any] = {}
        self.sent: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(self, message: dict[str, Any]) -> None:
        await self.gate.wait()
        self.sent.append(message["text"])


class Closes:
    def __init__(self) -> None:
        self.codes: list[CloseCode] = []

    async def __call__(self, code: CloseCode, reason: str) -> None:
        self.codes.append(code)


def streamer(
    tmp_path: Path, socket: FakeSocket, closes: Closes, *, queue_limit: int = 100, stall_s: float = 30.0
) -> FeedStreamer:
    db = Database(f"sqlite:///{tmp_path / 'unused.db'}")  # never read: no command here needs the store
    return FeedStreamer(cast(WebSocket, socket), db, ManualClock(0), feeds.CARERS, queue_limit, closes, stall_s=stall_s)


async def test_a_frame_for_an_idle_socket_is_sent_in_the_callers_step(tmp_path: Path) -> None:
    socket, closes = FakeSocket(), Closes()
    s = streamer(tmp_path, socket, closes)
    s.start()
    tasks_before = len(asyncio.all_tasks())
    s.send_text("one")
    s.send_text("two")
    assert socket.sent == ["one", "two"], "sent before send_text returned: no task, no await"
    assert len(asyncio.all_tasks()) == tasks_before
    assert s.idle


async def test_frames_queued_before_start_leave_first_and_in_order(tmp_path: Path) -> None:
    socket, closes = FakeSocket(), Closes()
    s = streamer(tmp_path, socket, closes)
    s.send_text("welcome")
    s.send_text("error")
    assert socket.sent == []
    s.start()
    s.send_text("live")  # handed over after start but behind the queued ones
    assert socket.sent == []
    await eventually(lambda: s.idle)
    assert socket.sent == ["welcome", "error", "live"]


async def test_a_direct_send_never_overtakes_a_queued_frame(tmp_path: Path) -> None:
    socket, closes = FakeSocket(), Closes()
    s = streamer(tmp_path, socket, closes)
    s.start()
    socket.gate.clear()  # the write buffer is full: the next send has to wait
    s.send_text("1")
    assert not s.idle, "the waiting send went to a writer task"
    s.send_text("2")
    s.send_text("3")
    socket.gate.set()
    await s.drained(timeout_s=30)
    assert socket.sent == ["1", "2", "3"]
    assert s.idle, "the writer task ended with its queue"
    s.send_text("4")
    assert socket.sent == ["1", "2", "3", "4"], "idle again: sent directly"
    assert closes.codes == []


async def test_a_send_blocked_past_the_stall_limit_closes_as_a_slow_consumer(tmp_path: Path) -> None:
    socket, closes = FakeSocket(), Closes()
    s = streamer(tmp_path, socket, closes, stall_s=0.05)
    s.start()
    socket.gate.clear()  # the peer stopped reading
    s.send_text("stuck")
    await eventually(lambda: closes.codes)
    assert closes.codes == [CloseCode.SLOW_CONSUMER]
    assert s.closed
    s.send_text("after")
    socket.gate.set()
    await asyncio.sleep(0)
    assert "after" not in socket.sent


async def test_a_full_queue_closes_as_a_slow_consumer(tmp_path: Path) -> None:
    socket, closes = FakeSocket(), Closes()
    s = streamer(tmp_path, socket, closes, queue_limit=3)
    s.start()
    socket.gate.clear()
    for n in range(5):  # one in flight, three queued, the fifth finds the queue full
        s.send_text(str(n))
    await eventually(lambda: closes.codes)
    assert closes.codes == [CloseCode.SLOW_CONSUMER]
    s.stop()
