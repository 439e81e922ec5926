"""Profile 600 devices connecting to one in-process node with pyinstrument.

python -m bench.profile_connect
"""

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


async def main():
    d = Path(tempfile.mkdtemp())
    node = Node.build(Settings(database_url=f"sqlite:///{d}/p.db", mismatch_interval_s=0))
    running = await start_server(node)
    agency = await bulk_agency_with_admin(node.db, int(time.time() * 1000), 600, 2, 2)
    counters = Counters()
    devs = [LeanDevice(running.ws_url, a.token, a.uuid, a.carer_id, counters, Behaviour()) for a in agency.devices]
    prof = Profiler(async_mode="disabled", interval=0.0005)
    prof.start()
    started = time.perf_counter()
    tasks = [asyncio.create_task(x.run()) for x in devs]
    while not all(x.connected for x in devs):
        await asyncio.sleep(0.05)
    await node.activity.flush()
    await node.presence.step()
    took = time.perf_counter() - started
    prof.stop()
    print(f"600 devices connected in {took:.2f} s (server and clients in one process)")
    print(prof.output_text(unicode=False, color=False, show_all=False)[:6000])
    for x in devs:
        x.stop()
    await asyncio.sleep(0.2)
    await stop_server(running)


asyncio.run(main())
