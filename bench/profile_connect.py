"""Profile devices connecting to one in-process node, with pyinstrument.

    python -m bench.profile_connect [--devices 600] [--resume] [--no-profile]

Server and lean devices share this process, so the profile shows both; the figures in
docs/benchmarks.md read the server's frames (greet, catch-up, presence) per device.

The first wave connects fresh devices (each catches up its feed). With ``--resume`` they
then disconnect and a second wave reconnects every device at its head, the case a
restart or a network blip produces; that wave is the one measured. Process CPU per
device is printed either way (``--no-profile`` leaves the profiler out of it).
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


async def _wave(fleet: list[LeanDevice]) -> list[asyncio.Task[None]]:
    tasks = [asyncio.create_task(device.run()) for device in fleet]
    while not all(device.connected for device in fleet):
        await asyncio.sleep(0.05)
    return tasks


async def main(devices: int, resume: bool, profile: bool) -> None:
    workdir = Path(tempfile.mkdtemp())
    node = Node.build(Settings(database_url=f"sqlite:///{workdir}/profile.db", mismatch_interval_s=0))
    running = await start_server(node)
    agency = await bulk_agency_with_admin(node.db, int(time.time() * 1000), devices, 2, 2)
    counters = Counters()
    fleet = [LeanDevice(running.ws_url, d.token, d.uuid, d.carer_id, counters, Behaviour()) for d in agency.devices]
    if resume:
        tasks = await _wave(fleet)
        await node.activity.flush()
        await node.presence.step()
        for device in fleet:
            device.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        while node.hub.session_count:
            await asyncio.sleep(0.05)
        await node.presence.step()
        await asyncio.sleep(1.0)
        again = []
        for old, d in zip(fleet, agency.devices, strict=True):
            device = LeanDevice(running.ws_url, d.token, d.uuid, d.carer_id, counters, Behaviour())
            device.position = device.max_applied = old.position
            again.append(device)
        fleet = again
    profiler = Profiler(async_mode="disabled", interval=0.0005) if profile else None
    if profiler is not None:
        profiler.start()
    started, cpu0 = time.perf_counter(), time.process_time()
    tasks = await _wave(fleet)
    await node.activity.flush()
    await node.presence.step()
    took, cpu = time.perf_counter() - started, time.process_time() - cpu0
    if profiler is not None:
        profiler.stop()
    wave = "resumed at the head" if resume else "connected"
    print(f"{devices} devices {wave} in {took:.2f} s (server and clients in one process)")
    print(f"process CPU {cpu:.2f} s: {cpu / devices * 1000:.2f} ms per device")
    if profiler is not None:
        print(profiler.output_text(unicode=False, color=False))
    for device in fleet:
        device.stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    await stop_server(running)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=600)
    parser.add_argument("--resume", action="store_true", help="measure a second wave reconnecting at the head")
    parser.add_argument("--no-profile", action="store_true", help="CPU figures only, without the profiler")
    args = parser.parse_args()
    asyncio.run(main(args.devices, args.resume, not args.no_profile))
