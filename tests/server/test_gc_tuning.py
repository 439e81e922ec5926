"""A serving node freezes what start-up made and what each connect wave made, so full
collections stop walking long-lived objects; collection pauses are on /metrics."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loadtest.server_process import SpawnedServer
from server.node import Node
from server.settings import Settings
from server.startup import ConnectWaves
from tests.support import eventually


@pytest.fixture
def gc_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def _figure(page: str, name: str) -> float:
    for line in page.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not on /metrics")


async def test_caresync_serve_freezes_after_start_up_and_reports_collection_pauses(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gc.db'}"
    seeder = Node.build(Settings(database_url=url))
    await seeder.db.migrate()
    await seeder.db.close()
    server = SpawnedServer(url, tmp_path / "serve.log", pin=False)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            page = (await http.get("/metrics")).text
    finally:
        server.stop()
    assert _figure(page, "caresync_gc_frozen_objects") > 0, "start-up's objects are frozen"
    assert "caresync_gc_pause_seconds_bucket" in page
    assert "caresync_gc_pause_max_seconds" in page


async def test_a_connect_wave_is_frozen_once_it_has_passed(gc_restored: None) -> None:
    waves = ConnectWaves(quiet_s=0.01, min_sockets=3, step_sockets=1_000)
    waves.enabled = True
    gc.unfreeze()
    for _ in range(3):
        waves.connected()
    await eventually(lambda: waves.freezes == 1)
    assert gc.get_freeze_count() > 0


async def test_a_long_wave_is_frozen_every_step_without_waiting_for_quiet(gc_restored: None) -> None:
    waves = ConnectWaves(quiet_s=3600, min_sockets=3, step_sockets=5)
    waves.enabled = True
    for _ in range(10):
        waves.connected()
    assert waves.freezes == 2


async def test_when_the_frozen_sockets_have_closed_a_quiet_moment_thaws_and_collects(gc_restored: None) -> None:
    waves = ConnectWaves(quiet_s=0.01, min_sockets=2, step_sockets=1_000)
    waves.enabled = True
    for _ in range(2):
        waves.connected()
    await eventually(lambda: waves.freezes == 1)
    waves.closed()
    assert waves.thaws == 0, "one of two closed: the frozen objects mostly still live"
    waves.closed()
    await eventually(lambda: waves.thaws == 1)
    assert waves.freezes == 2


async def test_nothing_is_frozen_unless_enabled(gc_restored: None) -> None:
    waves = ConnectWaves(quiet_s=0.01, min_sockets=1, step_sockets=1)
    for _ in range(5):
        waves.connected()
    assert waves.freezes == 0


class _Cycle:
    """An object in a reference cycle: only a collection frees it."""

    def __init__(self) -> None:
        self.itself = self


async def test_steady_reconnects_thaw_once_the_frozen_sockets_have_closed(gc_restored: None) -> None:
    """Every frozen socket reconnects and no quiet moment ever comes: the step freeze
    collects what they left in cycles instead of freezing it again."""
    waves = ConnectWaves(quiet_s=3600, min_sockets=3, step_sockets=5)
    waves.enabled = True
    gc.unfreeze()
    gc.collect()
    left = _Cycle()
    for _ in range(5):
        waves.connected()
    assert (waves.freezes, waves.thaws) == (1, 0)
    freed = weakref.ref(left)
    del left  # a closed socket's cycle, frozen with its wave
    for _ in range(5):
        waves.closed()
        waves.connected()
    assert (waves.freezes, waves.thaws) == (2, 1)
    assert freed() is None, "the frozen cycle was collected"


async def test_steady_reconnects_thaw_at_the_latest_after_the_longest_frozen_time(gc_restored: None) -> None:
    """Fewer sockets closed than were frozen, but the frozen garbage is old: the next step
    freeze thaws and collects it."""
    now = 0.0
    waves = ConnectWaves(quiet_s=3600, min_sockets=3, step_sockets=5, max_frozen_s=60, clock=lambda: now)
    waves.enabled = True
    gc.unfreeze()
    gc.collect()
    left = _Cycle()
    for _ in range(10):
        waves.connected()
    freed = weakref.ref(left)
    del left
    waves.closed()
    for _ in range(5):
        waves.connected()
    assert (waves.freezes, waves.thaws) == (3, 0), "1 of 10 closed, frozen for less than the longest time"
    assert freed() is not None
    now = 60.0
    waves.closed()
    for _ in range(5):
        waves.connected()
    assert (waves.freezes, waves.thaws) == (4, 1)
    assert freed() is None, "the frozen cycle was collected"


async def test_steady_reconnects_thaw_at_most_once_per_interval(gc_restored: None) -> None:
    """A client reconnecting the moment it is closed churns every socket at each step: a
    full collection per step would hold up every push, so thaws wait their interval, and
    the churned steps in between are not frozen (that would only freeze their garbage)."""
    now = 0.0
    waves = ConnectWaves(quiet_s=3600, min_sockets=3, step_sockets=5, min_thaw_interval_s=30, clock=lambda: now)
    waves.enabled = True
    gc.unfreeze()
    gc.collect()
    for _ in range(5):
        waves.connected()
    for _ in range(20):  # four steps of sockets that close and come back
        waves.closed()
        waves.connected()
    assert (waves.freezes, waves.thaws) == (2, 1), "one thaw; the churned steps after it are not frozen"
    assert waves.churned_steps == 3
    now = 30.0
    for _ in range(5):
        waves.closed()
        waves.connected()
    assert (waves.freezes, waves.thaws) == (3, 2), "the interval over, the next step thaws"
