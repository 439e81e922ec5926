"""Profile devices connecting to one in-process node, with pyinstrument.

    python -m bench.profile_connect [--devices 600]

Server and lean devices share this process, so the profile shows both; the figures in
docs/benchmarks.md read the server's frames (greet, catch-up, presence) per device.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from pyinstrument import Profiler

from loadtest.lean_device import Behaviour, Counters, LeanDevice
from loadtest.seed import bulk_agency_with_admin
from server.embedded import start_server, stop_server
from server.node import Node
from server.settings import Settings


async def main(devices: int) -> None:
    workdir = Path(tempfile.mkdtemp())
    node = Node.build(Settings(database_url=f"sqlite:///{workdir}/profile.db", mismatch_interval_s=0))
    running = await start_server(node)
    agency = await bulk_agency_with_admin(node.db, int(time.time() * 1000), devices, 2, 2)
    counters = Counters()
    fleet = [LeanDevice(running.ws_url, d.token, d.uuid, d.carer_id, counters, Behaviour()) for d in agency.devices]
    profiler = Profiler(async_mode="disabled", interval=0.0005)
    profiler.start()
    started = time.perf_counter()
    tasks = [asyncio.create_task(device.run()) for device in fleet]
    while not all(device.connected for device in fleet):
        await asyncio.sleep(0.05)
    await node.activity.flush()
    await node.presence.step()
    took = time.perf_counter() - started
    profiler.stop()
    print(f"{devices} devices connected in {took:.2f} s (server and clients in one process)")
    print(profiler.output_text(unicode=False, color=False))
    for device in fleet:
        device.stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    await stop_server(running)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=600)
    asyncio.run(main(parser.parse_args().devices))
