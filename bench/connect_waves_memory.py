"""Server memory per device socket over two connect waves: what the first costs, what stays
when every device has left, what a second wave adds.

    python -m bench.connect_waves_memory [--devices 2000]

``caresync serve`` (SQLite) with N lean devices connecting in groups of 50 every 0.8 s (as
``bench.fanout`` connects them); RSS is read when all are connected, again 8 s after all
have disconnected, and after the same devices connected again. RSS is a high-water mark:
the first wave's figure holds the node's caches (identities, heads, SQLite's page cache)
and the heap the greetings used, which the second wave reuses; the second wave's growth is
what another wave of the same devices costs.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from loadtest.lean_device import Behaviour, Counters, LeanDevice
from loadtest.measure import rss_kib
from loadtest.seed import BulkAgency, bulk_agency_with_admin
from loadtest.server_process import SpawnedServer
from server.store.database import Database

GROUP = 50
GROUP_EVERY_S = 0.8
SETTLE_S = 5.0
LEFT_S = 8.0


Wave = tuple[list[LeanDevice], list[asyncio.Task[None]]]


async def _wave(ws_url: str, agency: BulkAgency, counters: Counters, settle_s: float) -> Wave:
    fleet = [LeanDevice(ws_url, d.token, d.uuid, d.carer_id, counters, Behaviour()) for d in agency.devices]
    tasks = []
    for index, device in enumerate(fleet):
        tasks.append(asyncio.create_task(device.run()))
        if index % GROUP == GROUP - 1:
            await asyncio.sleep(GROUP_EVERY_S)
    deadline = time.monotonic() + 600
    while not all(device.connected for device in fleet):
        if time.monotonic() > deadline:
            raise TimeoutError("not every device connected")
        await asyncio.sleep(0.05)
    await asyncio.sleep(settle_s)
    return fleet, tasks


async def _leave(fleet: list[LeanDevice], tasks: list[asyncio.Task[None]]) -> None:
    for device in fleet:
        device.stop()
    await asyncio.gather(*tasks, return_exceptions=True)


async def measure(devices: int, settle_s: float = SETTLE_S, left_s: float = LEFT_S) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp())
    url = f"sqlite:///{workdir / 'waves.db'}"
    db = Database(url)
    await db.migrate()
    agency = await bulk_agency_with_admin(db, int(time.time() * 1000), devices, 1, 1)
    await db.close()
    server = SpawnedServer(url, workdir / "server.log")
    await server.start()
    try:
        counters = Counters()
        ws_url = server.base_url.replace("http", "ws") + "/ws/device"
        rss0 = rss_kib(server.pid)
        fleet, tasks = await _wave(ws_url, agency, counters, settle_s)
        rss1 = rss_kib(server.pid)
        await _leave(fleet, tasks)
        await asyncio.sleep(left_s)
        rss2 = rss_kib(server.pid)
        fleet, tasks = await _wave(ws_url, agency, counters, settle_s)
        rss3 = rss_kib(server.pid)
        await _leave(fleet, tasks)
    finally:
        server.stop()
    return {
        "first_wave_kib": (rss1 - rss0) / devices,
        "kept_after_leaving_kib": (rss2 - rss0) / devices,
        "second_wave_kib": (rss3 - rss2) / devices,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    args = parser.parse_args()
    result = asyncio.run(measure(args.devices))
    print(
        f"devices={args.devices}: first wave {result['first_wave_kib']:.1f} KiB per device; "
        f"kept when all had left {result['kept_after_leaving_kib']:.1f} KiB per device; "
        f"second wave {result['second_wave_kib']:.1f} KiB per device (server RSS)"
    )


if __name__ == "__main__":
    main()
