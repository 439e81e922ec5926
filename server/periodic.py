"""A background loop that runs a step every interval and survives its failures."""

from __future__ import annotations

import abc
import asyncio
import logging

log = logging.getLogger(__name__)


class Periodic(abc.ABC):
    def __init__(self, interval_s: float, name: str) -> None:
        self.interval_s = interval_s
        self.name = name
        self._task: asyncio.Task[None] | None = None

    @abc.abstractmethod
    async def step(self) -> None:
        """One round of work."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.step()
            except Exception:
                log.exception("%s failed; retrying next round", self.name)
