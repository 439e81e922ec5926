"""Every connection's one deadline (hello, keepalive ping, pong) on a single loop timer.

A loop timer per connection costs some 500 bytes (the handle, its copied context, the
event loop's own timer); at 50,000 idle devices that is most of a megabyte for
nothing but waiting. Here a deadline is an entry in the set of its slot
(:data:`RESOLUTION_S` wide): setting one adds the connection to a set, clearing it
removes it, and one loop timer, armed for the earliest slot, fires the slots that are
due. A deadline fires at most :data:`RESOLUTION_S` late.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections.abc import Callable
from typing import Protocol

RESOLUTION_S = 0.05


class Timed(Protocol):
    def deadline_reached(self) -> None: ...


class Deadlines:
    """The deadlines of one node's lean connections."""

    __slots__ = ("_armed", "_keys", "_loop", "_slots", "_timer")

    def __init__(self, loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
        self._loop = loop
        self._slots: dict[int, set[Timed]] = {}
        self._keys: list[int] = []
        """The slots' keys, a heap."""
        self._timer: asyncio.TimerHandle | None = None
        self._armed = 0
        """The slot the loop timer is armed for (0: none)."""

    def set(self, timed: Timed, delay_s: float) -> int:
        """File ``timed`` to be told in ``delay_s``; returns the slot to :meth:`clear` it from."""
        key = math.ceil((self._loop().time() + delay_s) / RESOLUTION_S)
        members = self._slots.get(key)
        if members is None:
            members = self._slots[key] = set()
            heapq.heappush(self._keys, key)
            if not self._armed or key < self._armed:
                self._arm(key)
        members.add(timed)
        return key

    def clear(self, timed: Timed, key: int) -> None:
        members = self._slots.get(key)
        if members is not None:
            members.discard(timed)

    def _arm(self, key: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed = key
        self._timer = self._loop().call_at(key * RESOLUTION_S, self._fire)

    def _fire(self) -> None:
        due = max(self._armed, math.floor(self._loop().time() / RESOLUTION_S))
        self._timer = None
        self._armed = 0
        keys = self._keys
        while keys and keys[0] <= due:
            members = self._slots.pop(heapq.heappop(keys), None)
            for timed in members or ():
                timed.deadline_reached()
        if keys:
            self._arm(keys[0])

    def __len__(self) -> int:
        return sum(len(members) for members in self._slots.values())
