"""Stopping a background loop never cuts its step half-way (a cancelled database write can
strand SQLite's write lock), and a step that never ends is cancelled after a bound."""

from __future__ import annotations

import asyncio

import pytest

from server import periodic
from server.periodic import Periodic


class Recorded(Periodic):
    def __init__(self) -> None:
        super().__init__(0.01, "recorded")
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.outcome = ""

    async def step(self) -> None:
        self.started.set()
        try:
            await self.release.wait()
            self.outcome = "finished"
        except asyncio.CancelledError:
            self.outcome = "cancelled"
            raise


async def test_stop_lets_a_running_step_finish() -> None:
    loop = Recorded()
    loop.start()
    await asyncio.wait_for(loop.started.wait(), 5)
    stopping = asyncio.create_task(loop.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done(), "stop returned while a step was running"
    assert loop.outcome == ""
    loop.release.set()
    await asyncio.wait_for(stopping, 5)
    assert loop.outcome == "finished"


async def test_a_step_that_never_ends_is_cancelled_after_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(periodic, "STEP_FINISH_S", 0.1)
    loop = Recorded()
    loop.start()
    await asyncio.wait_for(loop.started.wait(), 5)
    await asyncio.wait_for(loop.stop(), 5)
    assert loop.outcome == "cancelled"


async def test_stop_between_steps_returns_at_once() -> None:
    loop = Recorded()
    loop.release.set()
    loop.start()
    await asyncio.wait_for(loop.started.wait(), 5)
    await asyncio.sleep(0.001)
    await asyncio.wait_for(loop.stop(), 1)
    assert loop.outcome == "finished"
