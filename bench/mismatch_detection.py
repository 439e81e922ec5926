"""One sync-mismatch detection pass over a large tenant, on SQLite and PostgreSQL.

    python -m bench.mismatch_detection [--carers 10000] [--entries 20] [--overdue 0.1] [--repeats 5]

Seeds (by bulk insert) one tenant with N carers, each with one device, a feed of E
entries (N*E in all) and acks: a share of carers is behind by a few overdue entries,
the rest fully acked. Then times: the detection query alone, the first pass (raising an
alert per overdue carer; every alert is deleted and raised again per repeat, wall and
this process's CPU), and steady-state passes where nothing changed (medians).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from server.bus.memory import MemoryBus
from server.clock import ManualClock
from server.services.mismatch import acks_view
from server.services.mismatch.detector import MismatchDetector
from server.store.database import Database, async_url
from server.store.schema import (
    alert_audit,
    branches,
    clients,
    console_events,
    console_feeds,
    device_acks,
    device_users,
    devices,
    feed_entries,
    feeds,
    mismatch_alerts,
    tenants,
    users,
    visit_assignments,
    visits,
)

NOW = 1_800_000_000_000
FRAME = '{"type":"change"}'
DAY_MS = 86_400_000


async def seed(db: Database, carers: int, entries: int, overdue_share: float, interrupted: float = 0.0) -> None:
    tenant, branch, client = "t", "b", "c"
    behind_every = max(1, round(1 / overdue_share)) if overdue_share > 0 else 0
    async with db.write() as conn:
        await conn.execute(insert(tenants).values(id=tenant, name="Bench", created_at=0, mismatch_grace_s=120))
        await conn.execute(insert(branches).values(id=branch, tenant_id=tenant, name="North"))
        await conn.execute(insert(clients).values(id=client, tenant_id=tenant, branch_id=branch, name="Client"))
    for start in range(0, carers, 2000):
        ids = range(start, min(carers, start + 2000))
        async with db.write() as conn:
            await conn.execute(
                insert(users),
                [
                    {
                        "id": f"k{i}",
                        "tenant_id": tenant,
                        "branch_id": branch,
                        "name": f"Carer {i}",
                        "role": "carer",
                        "created_at": 0,
                    }
                    for i in ids
                ],
            )
            await conn.execute(
                insert(feeds),
                [{"carer_id": f"k{i}", "tenant_id": tenant, "epoch": 1, "head_seq": entries} for i in ids],
            )
            await conn.execute(
                insert(visits),
                [
                    {
                        "id": f"v{i}",
                        "tenant_id": tenant,
                        "branch_id": branch,
                        "client_id": client,
                        "starts_at": NOW + 3_600_000,
                        "ends_at": NOW + 7_200_000,
                        "status": "scheduled",
                        "version": entries,
                        "updated_at": 0,
                    }
                    for i in ids
                ],
            )
            await conn.execute(
                insert(visit_assignments), [{"visit_id": f"v{i}", "carer_id": f"k{i}", "assigned_at": 0} for i in ids]
            )
            await conn.execute(
                insert(devices),
                [
                    {
                        "id": f"d{i}",
                        "tenant_id": tenant,
                        "branch_id": branch,
                        "uuid": f"u{i}",
                        "name": f"Phone {i}",
                        "created_at": 0,
                    }
                    for i in ids
                ],
            )
            await conn.execute(insert(device_users), [{"device_id": f"d{i}", "user_id": f"k{i}"} for i in ids])
            await conn.execute(
                insert(feed_entries),
                [
                    {
                        "carer_id": f"k{i}",
                        "epoch": 1,
                        "seq": s,
                        "visit_id": f"v{i}",
                        "committed_at": NOW - (entries - s + 1) * 600_000,
                        "frame": FRAME,
                        "summary": "rescheduled",
                    }
                    for i in ids
                    for s in range(1, entries + 1)
                ],
            )
            cut_every = max(1, round(1 / interrupted)) if interrupted > 0 else 0
            cut = [i for i in ids if cut_every and i % cut_every == 0]
            if cut:  # a storm a day ago: recorded, and no longer deciding anything
                from server.store.schema import device_interruptions  # (so older trees can run the rest)

                await conn.execute(
                    insert(device_interruptions),
                    [
                        {"device_id": f"d{i}", "stopped_at": NOW - DAY_MS, "available_at": NOW - DAY_MS + 10_000}
                        for i in cut
                    ],
                )
            await conn.execute(
                insert(device_acks),
                [
                    {
                        "device_id": f"d{i}",
                        "carer_id": f"k{i}",
                        "epoch": 1,
                        "seq": entries - 3 if behind_every and i % behind_every == 0 else entries,
                        "acked_at": 0,
                    }
                    for i in ids
                ],
            )


async def measure(
    url: str, carers: int, entries: int, overdue: float, repeats: int, interrupted: float = 0.0
) -> dict[str, Any]:
    db = Database(url)
    await db.migrate()
    started = time.perf_counter()
    await seed(db, carers, entries, overdue, interrupted)
    seeded_s = time.perf_counter() - started
    if db.dialect == "postgresql":
        async with db.engine.connect() as conn:
            await conn.execute(text("COMMIT"))
            await conn.execute(text("ANALYZE"))
    detector = MismatchDetector(db, MemoryBus(), ManualClock(NOW))
    query_times, query_cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        async with db.read() as conn:
            found = await acks_view.overdue_carers(conn, NOW)
        query_times.append(time.perf_counter() - t)
        query_cpu.append(time.process_time() - c)
    first_times, first_cpu = [], []
    for attempt in range(repeats):
        if attempt:
            await _forget_alerts(db)
        t, c = time.perf_counter(), time.process_time()
        first = await detector.run_once()
        first_times.append(time.perf_counter() - t)
        first_cpu.append(time.process_time() - c)
    steady_times = []
    for _ in range(repeats):
        t = time.perf_counter()
        report = await detector.run_once()
        steady_times.append(time.perf_counter() - t)
        assert report.raised == report.updated == report.resolved == 0
    await db.close()
    return {
        "seed_s": seeded_s,
        "overdue": len(found),
        "raised": first.raised,
        "query_ms": statistics.median(query_times) * 1000,
        "query_cpu_ms": statistics.median(query_cpu) * 1000,
        "first_pass_ms": statistics.median(first_times) * 1000,
        "first_pass_all_ms": [round(t * 1000) for t in first_times],
        "first_pass_cpu_ms": statistics.median(first_cpu) * 1000,
        "steady_pass_ms": statistics.median(steady_times) * 1000,
    }


async def _forget_alerts(db: Database) -> None:
    """Back to no alert at all, so the next pass raises them all again."""
    async with db.write() as conn:
        for table in (alert_audit, mismatch_alerts, console_events, console_feeds):
            await conn.execute(delete(table))
    if db.dialect == "postgresql":
        async with db.engine.connect() as conn:
            await conn.execute(text("COMMIT"))
            await conn.execute(text("VACUUM ANALYZE alert_audit, mismatch_alerts, console_events, console_feeds"))


async def fresh_postgres(admin_url: str) -> str:
    """A new database for this run; drop it with :func:`drop_postgres` (or use
    :func:`scratch_postgres`), or it stays behind on the server."""
    name = f"caresync_bench_{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(async_url(admin_url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


async def drop_postgres(admin_url: str, url: str) -> None:
    """Drop a database :func:`fresh_postgres` made (its connections closed first)."""
    engine = create_async_engine(async_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def scratch_postgres(admin_url: str) -> AsyncIterator[str]:
    """A new database for the block, dropped after it, whatever happened."""
    url = await fresh_postgres(admin_url)
    try:
        yield url
    finally:
        await drop_postgres(admin_url, url)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--carers", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=20, help="feed entries per carer")
    parser.add_argument("--overdue", type=float, default=0.1, help="share of carers behind")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--postgres-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--interrupted", type=float, default=0.0, help="share of devices cut off by a node stop a day ago"
    )
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    args = parser.parse_args()
    print(f"carers={args.carers} entries={args.carers * args.entries} overdue share={args.overdue}")
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.stores.split(","):
            if name == "sqlite":
                url = f"sqlite:///{Path(workdir) / 'bench.db'}"
                r = await measure(url, args.carers, args.entries, args.overdue, args.repeats, args.interrupted)
            else:
                async with scratch_postgres(args.postgres_admin_url) as url:
                    r = await measure(url, args.carers, args.entries, args.overdue, args.repeats, args.interrupted)
            print(
                f"{name:10s} overdue={r['overdue']} raised={r['raised']} | detection query {r['query_ms']:.0f} ms"
                f" ({r['query_cpu_ms']:.1f} ms CPU)"
                f" | first pass (raising) {r['first_pass_ms']:.0f} ms wall, {r['first_pass_cpu_ms']:.0f} ms CPU"
                f" (all: {r['first_pass_all_ms']}) | steady pass {r['steady_pass_ms']:.0f} ms"
                f" (medians of {args.repeats}; seeding took {r['seed_s']:.1f} s)"
            )


if __name__ == "__main__":
    asyncio.run(main())
