"""One load-generator process: runs its share of lean devices and reports every second.

    python -m loadtest.worker   (driven by ``caresync fleet`` over stdin/stdout)

Once it has its config it raises its soft open-file limit to the hard limit, and exits 2
(the reason on stderr) when that cannot hold its devices' sockets.

stdin: one JSON config line, then commands (``{"cmd": "drop", "share": 0.1}``,
``{"cmd": "clean"}``, ``{"cmd": "sync"}`` (HTTP-only devices sync now),
``{"cmd": "stop"}``). stdout: one JSON line a second with the counters since the
previous line (and the worst lag of its own event loop, so a starved generator shows),
and a final line with every device's position.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import random
import sys
import time
from typing import Any

import httpx

from loadtest.fd_limits import WORKER_FD_HEADROOM, raise_soft_limit
from loadtest.lean_device import Behaviour, Counters, LeanDevice

RAMP_STEP = 10
"""Devices started together while ramping up, then a pause: a steady trickle, not bursts."""
LAG_PROBE_S = 0.1
"""How often the worker checks how late its own event loop runs."""


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**27)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    config = json.loads(await reader.readline())
    limit = raise_soft_limit()
    if limit < len(config["devices"]) + WORKER_FD_HEADROOM:
        print(
            f"caresync fleet worker: {len(config['devices'])} devices need "
            f"{len(config['devices']) + WORKER_FD_HEADROOM} open files; the limit is {limit}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    counters = Counters()
    devices = []
    for spec in config["devices"]:
        behaviour = Behaviour(
            ack=spec.get("ack", True),
            repair=spec.get("repair", True),
            drop_one_change=spec.get("drop_one_change", False),
            slow=spec.get("slow", False),
        )
        devices.append(
            LeanDevice(
                config["url"],
                spec["token"],
                spec["uuid"],
                spec["carer_id"],
                counters,
                behaviour,
                source_address=spec.get("source_address"),
            )
        )
    gc.freeze()  # the devices live as long as the worker: full collections need not walk them
    tasks = []
    ramp = float(config.get("ramp_per_s", 500))
    http_only = bool(config.get("http_only", False))
    http = httpx.AsyncClient(base_url=config.get("http_url", ""), timeout=60)
    interval_s = float(config.get("http_sync_interval_s", 900))
    lag = LoopLag()
    probe = asyncio.create_task(lag.watch())

    async def come_online() -> None:
        """Phones come online over time, not all in one instant: on a schedule, so a late
        wake-up does not slow the ramp down. Reports go on meanwhile."""
        began = time.perf_counter()
        for i, device in enumerate(devices):
            tasks.append(asyncio.create_task(device.run_http(http, interval_s) if http_only else device.run()))
            if i % RAMP_STEP == RAMP_STEP - 1:
                await asyncio.sleep(max(0.0, began + (i + 1) / ramp - time.perf_counter()))

    ramping = asyncio.create_task(come_online())
    stop = asyncio.Event()

    async def commands() -> None:
        while True:
            line = await reader.readline()
            if not line:
                stop.set()
                return
            command = json.loads(line)
            if command["cmd"] == "stop":
                stop.set()
                return
            if command["cmd"] == "drop":
                for device in random.sample(devices, max(1, int(len(devices) * command["share"]))):
                    device.drop()
            elif command["cmd"] == "clean":
                started = time.perf_counter()
                await asyncio.gather(*(d.clean_sync() for d in devices if d.connected), return_exceptions=True)
                _emit({"event": "clean_done", "seconds": time.perf_counter() - started})
            elif command["cmd"] == "sync":
                started = time.perf_counter()
                outcomes = await asyncio.gather(*(_synced(d, http) for d in devices), return_exceptions=True)
                failures = [repr(o) if isinstance(o, BaseException) else o for o in outcomes if o is not None]
                _emit({"event": "sync_done", "seconds": time.perf_counter() - started, "failures": failures})

    watcher = asyncio.create_task(commands())
    cpu = 0.0  # the process's whole CPU: start-up and the ramp count too
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        now_cpu = time.process_time()
        _emit(
            {
                "event": "tick",
                "connected": sum(1 for d in devices if d.connected),
                "applied": counters.applied,
                "duplicates": counters.duplicates,
                "applied_twice": counters.applied_twice,
                "gaps": counters.gaps,
                "syncs": counters.syncs,
                "reconnects": counters.reconnects,
                "preferences": counters.preferences,
                "latencies_ms": counters.latencies_ms,
                "closes": counters.closes,
                "abnormal": counters.abnormal,
                "abnormal_open_s": counters.abnormal_open_s,
                "connect_failures": counters.connect_failures,
                "loop_lag_max_ms": round(lag.take_max_s() * 1000, 1),
                "cpu_s": now_cpu - cpu,
            }
        )
        counters.latencies_ms = []
        counters.abnormal_open_s = []
        cpu = now_cpu
    watcher.cancel()
    probe.cancel()
    ramping.cancel()
    for device in devices:
        device.stop()
    await asyncio.sleep(0.2)
    for task in tasks:
        task.cancel()
    await http.aclose()
    _emit({"event": "final", "positions": {d.carer_id: [d.position.epoch, d.position.seq] for d in devices}})


FINAL_SYNC_ATTEMPTS = 3


async def _synced(device: LeanDevice, http: httpx.AsyncClient) -> str | None:
    """The fleet's final HTTP sync of one device, tried again after a failed call (as the
    device's own loop would); None once it went through, else why it did not."""
    failure = ""
    for _ in range(FINAL_SYNC_ATTEMPTS):
        try:
            await device.http_sync(http)
            return None
        except (httpx.HTTPError, OSError) as exc:
            failure = f"{device.carer_id}: {type(exc).__name__}: {exc}"
            await asyncio.sleep(random.uniform(0.5, 1.0))
    return failure


class LoopLag:
    """The worst delay of a timer on this event loop since it was last read."""

    def __init__(self) -> None:
        self.max_s = 0.0

    async def watch(self) -> None:
        while True:
            planned = time.perf_counter() + LAG_PROBE_S
            await asyncio.sleep(LAG_PROBE_S)
            self.max_s = max(self.max_s, time.perf_counter() - planned)

    def take_max_s(self) -> float:
        worst, self.max_s = self.max_s, 0.0
        return worst


if __name__ == "__main__":
    asyncio.run(main())
