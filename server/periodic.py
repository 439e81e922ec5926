"""A background loop that runs a step every interval and survives its failures.

After a failure it waits longer each time (doubling up to :data:`MAX_BACKOFF_S`), so a
store outage costs a few quiet retries, not a traceback every 0.1 s; a store outage is
logged once by the store, so it is not logged here again.

Stopping never cuts a step half-way: the loop is cancelled while it waits, and a step
already running is let finish first. A database write cancelled in the middle can leave
its connection holding SQLite's write lock, and the node's own last writes on the way out
(acks, presence) would then find the database locked.
"""

from __future__ import annotations

import abc
import asyncio
import logging

from server.store.outage import StoreUnavailable

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 10.0
STEP_FINISH_S = 10.0
"""How long stopping waits for a running step before it cancels it after all."""


class Periodic(abc.ABC):
    def __init__(self, interval_s: float, name: str) -> None:
        self.interval_s = interval_s
        self.name = name
        self._task: asyncio.Task[None] | None = None
        self._stepping: asyncio.Future[None] | None = None
        """The step the loop is running, if any."""

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
        stepping, self._stepping = self._stepping, None
        if stepping is not None and not stepping.done():
            finished, _ = await asyncio.wait([stepping], timeout=STEP_FINISH_S)
            if not finished:
                log.warning("%s: a step still running after %g s is cancelled", self.name, STEP_FINISH_S)
                stepping.cancel()
        if stepping is not None:
            await asyncio.gather(stepping, return_exceptions=True)  # its outcome was the loop's to log

    async def _loop(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(backoff_s(self.interval_s, failures))
            self._stepping = asyncio.ensure_future(self.step())
            try:
                await asyncio.shield(self._stepping)  # stop() cancels the loop, never the step
            except StoreUnavailable:
                failures += 1
            except Exception:
                if failures == 0:
                    log.exception("%s failed; retrying with backoff", self.name)
                failures += 1
            else:
                failures = 0


def backoff_s(interval_s: float, failures: int) -> float:
    """The wait before the next round: the interval, doubled per failure in a row, capped."""
    if failures == 0:
        return interval_s
    return float(min(MAX_BACKOFF_S, max(interval_s, 0.5) * 2.0 ** min(failures, 10)))
