"""Server CPU per REST rota change: visit reschedules through the REST API.

    python -m bench.rest_write [--changes 1000] [--concurrency 1 16] [--repeats 3] [--postgres URL]

``caresync serve`` runs in its own process pinned to core 0 (SQLite, and with
``--postgres`` a fresh database on that server too); the REST client runs here, pinned
to core 1, keeping ``--concurrency`` reschedules in flight. Reported per run: server CPU
seconds per change (the server process's CPU delta over the run divided by the number
of changes), the client-side latency p50/p99, a check after the run that every change
left exactly one feed entry (none lost, none doubled), and the same number of
``GET /livez`` requests' CPU: the HTTP floor (uvicorn, middleware, routing) under it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bench.mismatch_detection import drop_postgres, fresh_postgres
from bench.push_latency import _seed, _serve, _wait_http
from bench.support import percentile, pin_self, process_cpu_s
from server.seeding import SeededAgency
from server.store.database import Database
from server.store.schema import feed_entries

SUMMARY = "rescheduled"


async def _reschedules(
    base: str, agency: SeededAgency, changes: int, concurrency: int, offset: int
) -> tuple[list[float], float, float]:
    """Make ``changes`` reschedules, ``concurrency`` at a time; latencies (ms) and wall time."""
    headers = {"authorization": f"Bearer {agency.admin_token}"}
    visits = [v for carer in agency.carers for v in carer.visit_ids]
    start_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    latencies: list[float] = []
    counter = iter(range(changes))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as http:

        async def worker() -> None:
            for i in counter:
                moment = start_at + timedelta(minutes=offset + i)
                body = {"starts_at": moment.isoformat(), "ends_at": (moment + timedelta(minutes=30)).isoformat()}
                began = time.perf_counter()
                response = await http.post(f"/api/v1/visits/{visits[i % len(visits)]}/reschedule", json=body)
                latencies.append((time.perf_counter() - began) * 1000)
                response.raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - began, began


async def _floor(base: str, requests: int, concurrency: int) -> None:
    """``GET /livez`` (no store, no auth): what any request costs the server over HTTP."""
    counter = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:

        async def worker() -> None:
            for _ in counter:
                (await http.get("/livez")).raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _entries(url: str) -> int:
    db = Database(url)
    try:
        async with db.read() as conn:
            query = select(func.count()).select_from(feed_entries).where(feed_entries.c.summary == SUMMARY)
            return int((await conn.execute(query)).scalar_one())
    finally:
        await db.close()


async def run(url: str, changes: int, concurrency: int, warmup: int) -> dict[str, float]:
    agency = await _seed(url, 64)
    server, port = _serve(url, None, "node-rest")
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_http(base)
        await _reschedules(base, agency, warmup, concurrency, 0)
        before = process_cpu_s(server.pid)
        latencies, wall, _ = await _reschedules(base, agency, changes, concurrency, warmup)
        cpu = process_cpu_s(server.pid) - before
        before = process_cpu_s(server.pid)
        await _floor(base, changes, concurrency)
        floor = process_cpu_s(server.pid) - before
    finally:
        server.terminate()
        server.wait(10)
    stored = await _entries(url)
    return {
        "cpu_per_change_ms": cpu / changes * 1000,
        "floor_cpu_per_request_ms": floor / changes * 1000,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "changes_per_s": changes / wall,
        "lost_or_doubled": stored - (changes + warmup),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="also run on a fresh database on this server")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    pin_self(1)
    stores: list[str] = [] if args.no_sqlite else ["sqlite"]
    if args.postgres:
        stores.append("postgresql")
    print(f"changes={args.changes} (after {args.warmup} warm-up) concurrency={args.concurrency} repeats={args.repeats}")
    with tempfile.TemporaryDirectory(prefix="caresync-rest-") as workdir:
        for store in stores:
            for concurrency in args.concurrency:
                results = []
                for repeat in range(args.repeats):
                    if store == "sqlite":
                        url = f"sqlite:///{Path(workdir) / f'rest-{concurrency}-{repeat}.db'}"
                    else:
                        url = await fresh_postgres(args.postgres)
                    result = await run(url, args.changes, concurrency, args.warmup)
                    if store == "postgresql":
                        await drop_postgres(args.postgres, url)
                    results.append(result)
                    print(
                        f"  {store} c={concurrency} run {repeat + 1}: CPU/change {result['cpu_per_change_ms']:.3f} ms"
                        f" p50 {result['p50_ms']:.2f} ms p99 {result['p99_ms']:.2f} ms"
                        f" {result['changes_per_s']:.0f}/s lost-or-doubled {result['lost_or_doubled']:+.0f};"
                        f" GET /livez CPU/request {result['floor_cpu_per_request_ms']:.3f} ms"
                    )
                print(
                    f"{store} concurrency {concurrency}: median CPU/change "
                    f"{statistics.median(r['cpu_per_change_ms'] for r in results):.3f} ms, "
                    f"p50 {statistics.median(r['p50_ms'] for r in results):.2f} ms, "
                    f"p99 {statistics.median(r['p99_ms'] for r in results):.2f} ms; "
                    f"GET /livez CPU/request {statistics.median(r['floor_cpu_per_request_ms'] for r in results):.3f} ms"
                )


if __name__ == "__main__":
    asyncio.run(main())
