"""Connections' deadlines on one loop timer: each fires once, in order, unless cleared."""

from __future__ import annotations

import asyncio

from server.ws.lean.deadlines import RESOLUTION_S, Deadlines


class Waiter:
    def __init__(self, name: str, fired: list[str]) -> None:
        self.name = name
        self.fired = fired

    def deadline_reached(self) -> None:
        self.fired.append(self.name)


async def test_deadlines_fire_in_order_once_and_cleared_ones_do_not() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(lambda: loop)
    fired: list[str] = []
    late, early, cleared = Waiter("late", fired), Waiter("early", fired), Waiter("cleared", fired)
    deadlines.set(late, 0.3)
    deadlines.set(early, 0.1)
    key = deadlines.set(cleared, 0.2)
    deadlines.clear(cleared, key)
    assert len(deadlines) == 2
    started = loop.time()
    while len(fired) < 2:
        await asyncio.sleep(0.01)
        assert loop.time() - started < 2
    assert fired == ["early", "late"]
    assert loop.time() - started >= 0.3 - RESOLUTION_S
    await asyncio.sleep(0.3)
    assert fired == ["early", "late"] and len(deadlines) == 0


async def test_a_deadline_set_while_others_fire_is_kept() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(lambda: loop)
    fired: list[str] = []

    class Again(Waiter):
        def deadline_reached(self) -> None:
            super().deadline_reached()
            if len(self.fired) == 1:
                deadlines.set(self, 0.05)  # the keepalive arming the pong deadline

    deadlines.set(Again("again", fired), 0.05)
    async with asyncio.timeout(2):
        while len(fired) < 2:
            await asyncio.sleep(0.01)
    assert fired == ["again", "again"]
