"""Push latency from commit to device receipt, with N connected SDK devices.

    python -m bench.push_latency [--devices 100] [--changes 300] [--rate 50] [--cluster]

The server (``caresync serve`` on SQLite) runs in its own process pinned to core 0; the
devices (the real SDK: local SQLite store, apply + ack per change) and the REST client
making rota changes run here, pinned to core 1. Each change is a visit reschedule through
the REST API; latency is device receipt time minus the server's ``committed_at`` stamp.
The same devices count and change rate are then run against a bare ``websockets``
forwarder (bench/peers/ws_forward.py) as a transport-only lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from bench.mismatch_detection import scratch_postgres
from bench.support import free_port, percentile, pin_self, process_cpu_s, self_cpu_s, spawn_pinned, summary_ms
from client_sdk import Device
from protocol.frames import Change
from server.node import Node
from server.seeding import SeededAgency, seed_agency
from server.settings import Settings


async def _seed(url: str, devices: int) -> SeededAgency:
    node = Node.build(Settings(database_url=url))
    await node.db.migrate()
    try:
        return await seed_agency(node, carers=devices, clients=10, visits_per_carer=1)
    finally:
        await node.db.close()


async def _wait_http(base: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            try:
                if (await http.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


def _serve(url: str, redis_url: str | None, name: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    args = ["-m", "server.cli", "serve", "--database-url", url, "--port", str(port), "--node-id", name]
    if redis_url:
        args += ["--redis-url", redis_url]
    return spawn_pinned(args, core=0), port


async def run_caresync(
    devices: int, changes: int, rate: float, workdir: Path, url: str, redis_url: str | None = None
) -> dict[str, float]:
    """Devices on node A; rota changes through node B's REST API (the same node when alone)."""
    agency = await _seed(url, devices)
    servers = [_serve(url, redis_url, "node-a")]
    if redis_url:
        servers.append(_serve(url, redis_url, "node-b"))
    device_port, rest_port = servers[0][1], servers[-1][1]
    latencies: list[float] = []
    phones: list[Device] = []
    try:
        for _, port in servers:
            await _wait_http(f"http://127.0.0.1:{port}")

        def record(change: Change) -> None:
            if change.seq > 1:
                latencies.append((datetime.now(UTC) - change.committed_at).total_seconds() * 1000)

        for carer in agency.carers:
            phone = Device(
                f"ws://127.0.0.1:{device_port}/ws/device",
                carer.device_token,
                carer.device_uuid,
                workdir / f"{carer.device_uuid}.db",
            )
            phone.on_change(record)
            await phone.start()
            phones.append(phone)
        await asyncio.sleep(1.0)
        pids = [p.pid for p, _ in servers]
        server_cpu, own_cpu, started = sum(map(process_cpu_s, pids)), self_cpu_s(), time.perf_counter()
        headers = {"authorization": f"Bearer {agency.admin_token}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{rest_port}", headers=headers) as http:
            start_at = datetime.now(UTC) + timedelta(days=1)
            for i in range(changes):
                carer = agency.carers[i % devices]
                moment = start_at + timedelta(minutes=i)
                response = await http.post(
                    f"/api/v1/visits/{carer.visit_ids[0]}/reschedule",
                    json={"starts_at": moment.isoformat(), "ends_at": (moment + timedelta(minutes=30)).isoformat()},
                )
                response.raise_for_status()
                await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.perf_counter()))
        for _ in range(200):
            if len(latencies) >= changes:
                break
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        return {
            "received": len(latencies),
            "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99),
            "max_ms": max(latencies),
            "server_cpu_per_change_ms": (sum(map(process_cpu_s, pids)) - server_cpu) / changes * 1000,
            "generator_cpu_share": (self_cpu_s() - own_cpu) / elapsed,
            "summary": summary_ms(latencies),  # type: ignore[dict-item]
        }
    finally:
        for phone in phones:
            await phone.stop()
        for process, _ in servers:
            process.terminate()
            process.wait(10)


async def run_peer(devices: int, changes: int, rate: float) -> dict[str, float]:
    port = free_port()
    server = spawn_pinned(["-m", "bench.peers.ws_forward", str(port)], core=0)
    assert server.stdout is not None
    server.stdout.readline()
    latencies: list[float] = []
    clients = []
    all_connected = asyncio.Event()

    async def device(carer: str) -> None:
        async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
            clients.append(ws)
            if len(clients) == devices:
                all_connected.set()
            await ws.send(json.dumps({"carer": carer}))
            async for message in ws:
                latencies.append((time.time() - json.loads(message)["committed_at"]) * 1000)

    tasks = [asyncio.create_task(device(f"c{i}")) for i in range(devices)]
    try:
        await asyncio.wait_for(all_connected.wait(), 60)
        await asyncio.sleep(0.5)
        server_cpu, started = process_cpu_s(server.pid), time.perf_counter()
        async with connect(f"ws://127.0.0.1:{port}", compression=None) as control:
            await control.send(json.dumps({"role": "control"}))
            for i in range(changes):
                await control.send(json.dumps({"carer": f"c{i % devices}"}))
                await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.perf_counter()))
            for _ in range(200):
                if len(latencies) >= changes:
                    break
                await asyncio.sleep(0.05)
        return {
            "received": len(latencies),
            "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99),
            "max_ms": max(latencies),
            "server_cpu_per_change_ms": (process_cpu_s(server.pid) - server_cpu) / changes * 1000,
            "summary": summary_ms(latencies),  # type: ignore[dict-item]
        }
    finally:
        for task in tasks:
            task.cancel()
        server.terminate()
        server.wait(10)


def _report(label: str, result: dict[str, float]) -> None:
    print(f"{label}: {result['summary']}")
    line = f"  server CPU per change {result['server_cpu_per_change_ms']:.2f} ms"
    if "generator_cpu_share" in result:
        line += f"; generator CPU share {result['generator_cpu_share']:.0%}"
    print(line)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0, help="rota changes per second")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="also run two nodes on PostgreSQL + Redis: devices on node A, changes through node B",
    )
    parser.add_argument("--postgres-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    pin_self(1)
    print(f"devices={args.devices} changes={args.changes} rate={args.rate}/s")
    with tempfile.TemporaryDirectory(prefix="caresync-bench-") as workdir:
        embedded = await run_caresync(
            args.devices, args.changes, args.rate, Path(workdir), f"sqlite:///{Path(workdir) / 'bench.db'}"
        )
        _report("caresync embedded (SQLite, in-process bus, one node)", embedded)
        if args.cluster:
            async with scratch_postgres(args.postgres_admin_url) as url:
                clustered = await run_caresync(
                    args.devices, args.changes, args.rate, Path(workdir) / "cluster", url, args.redis_url
                )
            _report("caresync cluster (PostgreSQL + Redis, commit on B, device on A)", clustered)
            print(f"ratio cluster/embedded p50: {clustered['p50_ms'] / embedded['p50_ms']:.2f}x")
    peer = await run_peer(args.devices, args.changes, args.rate)
    _report("peer bare websockets forwarder (no DB, no HTTP)", peer)
    print(f"ratio p50 embedded/peer: {embedded['p50_ms'] / peer['p50_ms']:.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
