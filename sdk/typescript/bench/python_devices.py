"""N Python SDK devices (``client_sdk``, SQLite in memory) in one process, for push-latency.ts.

Run by the TypeScript bench with the repository on ``sys.path``; see devices-protocol.md.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime

from client_sdk import Device
from protocol.frames import Change


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    devices: list[Device] = []
    latencies: list[float] = []
    counted = {"applied": 0}
    baseline = time.process_time()

    def record(change: Change) -> None:
        counted["applied"] += 1
        latencies.append((datetime.now(UTC) - change.committed_at).total_seconds() * 1000)

    while line := (await reader.readline()).decode().strip():
        if line == "start":
            latencies.clear()
            counted["applied"] = 0
            baseline = time.process_time()
        elif line == "report":
            cpu = time.process_time() - baseline
            print(json.dumps({"cpu_s": cpu, "applied": counted["applied"], "latencies_ms": latencies}), flush=True)
        else:
            config = json.loads(line)
            for spec in config["devices"]:
                device = Device(config["url"], spec["token"], spec["uuid"], ":memory:", auto_sync_interval_s=86_400)
                device.on_change(record)
                await device.start(wait=False)
                devices.append(device)
            for device in devices:
                await device.wait_connected(30)
            print("ready", flush=True)
    for device in devices:
        await device.stop()


asyncio.run(main())
