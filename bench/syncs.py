"""Clean sync and standard sync under load.

    python -m bench.syncs [--runs 30] [--devices 500] [--concurrent 100]

(A) Server time of a whole clean sync of one carer with 150 visits and 1,050 tasks
    (every page, in-process, no transport), p50/p99 over ``--runs``; the peer is the same
    carer's full replay by standard sync from seq 0 (what a device without clean sync does).
(B) ``--devices`` devices clean-syncing at once over real sockets against ``caresync
    serve`` (SQLite, pinned to core 0; clients on core 1): time until all are done.
(C) ``--concurrent`` devices each running one standard sync that uploads 20 mutations and
    downloads 50 changes, all at once: request-to-response p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from bench.support import free_port, percentile, pin_self, process_cpu_s, spawn_pinned
from loadtest.seed import BenchDevice, bulk_agency
from protocol import PROTOCOL_VERSION
from protocol.codec import decode_server_frame, encode
from protocol.frames import (
    CleanSyncRequest,
    CleanSyncResponse,
    FeedPosition,
    Hello,
    SyncRequest,
    SyncResponse,
    VisitNote,
    Welcome,
)
from server.clock import SystemClock
from server.node import Node
from server.services.identity import authenticate_device
from server.settings import Settings
from server.store.database import Database


async def part_a(workdir: Path, runs: int) -> None:
    node = Node.build(Settings(database_url=f"sqlite:///{workdir / 'a.db'}", mismatch_interval_s=0))
    await node.start()
    try:
        (seeded,) = await bulk_agency(node.db, SystemClock().now_ms(), 1, 150, 7)
        async with node.db.read() as conn:
            device = await authenticate_device(conn, seeded.token)
        clean_ms, replay_ms = [], []
        for _ in range(runs):
            started, cursor, pages = time.perf_counter(), None, 0
            while True:
                page = await node.clean_sync.serve(
                    device, CleanSyncRequest(request_id="a", feed=seeded.carer_id, cursor=cursor)
                )
                pages += 1
                cursor = page.next_cursor
                if cursor is None:
                    break
            clean_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            response = await node.sync.standard_sync(
                device, SyncRequest(request_id="r", positions=[FeedPosition(feed=seeded.carer_id, epoch=1, seq=0)])
            )
            assert len(response.changes) == 150
            replay_ms.append((time.perf_counter() - started) * 1000)
        print(
            f"(A) clean sync of 150 visits / 1,050 tasks in {pages} pages, server time: "
            f"p50 {statistics.median(clean_ms):.1f} ms p99 {percentile(clean_ms, 99):.1f} ms | peer (replay of 150 "
            f"changes by standard sync): p50 {statistics.median(replay_ms):.1f} ms "
            f"p99 {percentile(replay_ms, 99):.1f} ms"
        )
    finally:
        await node.stop()


async def _serve(url: str) -> tuple[object, int]:
    port = free_port()
    server = spawn_pinned(["-m", "server.cli", "serve", "--database-url", url, "--port", str(port)], core=0)
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            try:
                if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return server, port
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


async def _hello(ws, seeded: BenchDevice, head: int) -> None:  # type: ignore[no-untyped-def]
    position = FeedPosition(feed=seeded.carer_id, epoch=1, seq=head)
    hello = Hello(
        token=seeded.token,
        device_uuid=seeded.uuid,
        app_version="bench",
        protocol_version=PROTOCOL_VERSION,
        positions=[position],
    )
    await ws.send(encode(hello).decode())
    while not isinstance(decode_server_frame(await ws.recv()), Welcome):
        pass


async def _until(ws, kind: type, request_id: str):  # type: ignore[no-untyped-def]
    while True:
        frame = decode_server_frame(await ws.recv())
        if isinstance(frame, kind) and frame.request_id == request_id:  # type: ignore[attr-defined]
            return frame


async def part_b(workdir: Path, devices: int) -> None:
    url = f"sqlite:///{workdir / 'b.db'}"
    db = Database(url)
    await db.migrate()
    seeded = await bulk_agency(db, SystemClock().now_ms(), devices, 20, 5)
    await db.close()
    server, port = await _serve(url)
    try:
        sockets = [await connect(f"ws://127.0.0.1:{port}/ws/device", compression=None) for _ in seeded]
        for ws, s in zip(sockets, seeded, strict=True):
            await _hello(ws, s, 20)
        done: list[float] = []
        cpu, started = process_cpu_s(server.pid), time.perf_counter()  # type: ignore[attr-defined]

        async def clean(ws, s: BenchDevice) -> None:  # type: ignore[no-untyped-def]
            cursor, visits = None, 0
            while True:
                rid = str(uuid.uuid4())
                await ws.send(encode(CleanSyncRequest(request_id=rid, feed=s.carer_id, cursor=cursor)).decode())
                page = await _until(ws, CleanSyncResponse, rid)
                visits += len(page.visits)
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert visits == 20
            done.append(time.perf_counter() - started)

        await asyncio.gather(*(clean(ws, s) for ws, s in zip(sockets, seeded, strict=True)))
        total = time.perf_counter() - started
        server_cpu = process_cpu_s(server.pid) - cpu  # type: ignore[attr-defined]
        print(
            f"(B) {devices} devices clean-syncing at once (20 visits each): all done in {total:.2f} s; "
            f"median device done at {statistics.median(done):.2f} s; server CPU {server_cpu:.2f} s"
        )
        for ws in sockets:
            await ws.close()
    finally:
        server.terminate()  # type: ignore[attr-defined]


async def part_c(workdir: Path, concurrent: int) -> None:
    url = f"sqlite:///{workdir / 'c.db'}"
    db = Database(url)
    await db.migrate()
    seeded = await bulk_agency(db, SystemClock().now_ms(), concurrent, 50, 3)
    async with db.read() as conn:
        from sqlalchemy import select

        from server.store.schema import visit_assignments

        visit_of = {r.carer_id: r.visit_id for r in await conn.execute(select(visit_assignments))}
    await db.close()
    server, port = await _serve(url)
    try:
        sockets = [await connect(f"ws://127.0.0.1:{port}/ws/device", compression=None, max_size=2**22) for _ in seeded]
        for ws, s in zip(sockets, seeded, strict=True):
            await _hello(ws, s, 50)
        latencies: list[float] = []
        gate = asyncio.Event()

        async def standard(ws, s: BenchDevice) -> None:  # type: ignore[no-untyped-def]
            now = datetime.now(UTC)
            mutations = [
                VisitNote(
                    mutation_id=i + 1,
                    carer_id=s.carer_id,
                    visit_id=visit_of[s.carer_id],
                    captured_at=now,
                    text=f"note {i}",
                )
                for i in range(20)
            ]
            request = SyncRequest(
                request_id=str(uuid.uuid4()),
                mutations=mutations,
                positions=[FeedPosition(feed=s.carer_id, epoch=1, seq=0)],
            )
            text = encode(request).decode()
            await gate.wait()
            started = time.perf_counter()
            await ws.send(text)
            response = await _until(ws, SyncResponse, request.request_id)
            latencies.append((time.perf_counter() - started) * 1000)
            assert len(response.results) == 20
            assert len(response.changes) == 50

        tasks = [asyncio.create_task(standard(ws, s)) for ws, s in zip(sockets, seeded, strict=True)]
        await asyncio.sleep(0.2)
        gate.set()
        await asyncio.gather(*tasks)
        print(
            f"(C) {concurrent} devices at once, each uploading 20 mutations and downloading 50 changes: "
            f"p50 {percentile(latencies, 50):.0f} ms p99 {percentile(latencies, 99):.0f} ms max {max(latencies):.0f} ms"
        )
        for ws in sockets:
            await ws.close()
    finally:
        server.terminate()  # type: ignore[attr-defined]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--concurrent", type=int, default=100)
    args = parser.parse_args()
    pin_self(1)
    with tempfile.TemporaryDirectory() as workdir:
        await part_a(Path(workdir), args.runs)
        await part_b(Path(workdir), args.devices)
        await part_c(Path(workdir), args.concurrent)


if __name__ == "__main__":
    asyncio.run(main())
