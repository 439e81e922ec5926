"""The visit verification export of a month of a large branch, streamed, on both stores.

    python -m bench.visit_verification [--visits-per-day 1000] [--days 30] [--repeats 3]

Seeds one branch in bulk: ``--visits-per-day`` visits on each of ``--days`` days, each
with three tasks, one carer (of 300, each with a phone), a check-in and a check-out with
a location, and two task outcomes, and refreshes the planner statistics (``ANALYZE``, as a
live store has them: without, reading the pages took PostgreSQL 3.6 times as long).
Then exports the whole range as CSV and as JSON, as
the REST API streams it (pages of ``VISIT_VERIFICATION_PAGE`` visits), and, as the peer in
the same run, the same export read in one page holding every visit (what building the
export in memory costs). Wall time: medians of ``--repeats``, the four variants
alternated; peak Python memory (tracemalloc): one run each, apart, since tracing slows
the code it watches.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import tracemalloc
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import insert, text

from bench.mismatch_detection import fresh_postgres
from server.clock import ManualClock, to_datetime
from server.services.identity import Staff
from server.services.visit_verification import export as export_module
from server.services.visit_verification.export import ExportQuery, VisitVerification
from server.services.visit_verification.formats import csv_chunks, json_chunks
from server.store.database import Database
from server.store.schema import (
    branches,
    care_records,
    clients,
    devices,
    tasks,
    tenants,
    users,
    visit_assignments,
    visits,
)

FIRST_DAY = date(2027, 1, 1)
START_MS = 1_798_761_600_000
"""2027-01-01T00:00:00Z (Europe/London is on UTC in January)."""
DAY_MS = 86_400_000
CARERS = 300
ADMIN = Staff(user_id="admin", tenant_id="t", role="admin", branch_id=None)
LOCATION = '"location":{"lat":51.5072,"lon":-0.1276,"accuracy_m":12.0}'


async def seed(db: Database, per_day: int, days: int) -> int:
    async with db.write() as conn:
        await conn.execute(insert(tenants).values(id="t", name="Bench", created_at=0))
        await conn.execute(insert(branches).values(id="b", tenant_id="t", name="North"))
        await conn.execute(
            insert(clients),
            [{"id": f"c{i}", "tenant_id": "t", "branch_id": "b", "name": f"Client {i}", "address": f"{i} High St"}
             for i in range(50)],
        )  # fmt: skip
        await conn.execute(
            insert(users),
            [{"id": f"k{i}", "tenant_id": "t", "branch_id": "b", "name": f"Carer {i}", "role": "carer", "created_at": 0}
             for i in range(CARERS)],
        )  # fmt: skip
        await conn.execute(
            insert(devices),
            [{"id": f"d{i}", "tenant_id": "t", "branch_id": "b", "name": f"Phone {i}", "created_at": 0}
             for i in range(CARERS)],
        )  # fmt: skip
    total = per_day * days
    for start in range(0, total, 2000):
        ids = range(start, min(total, start + 2000))
        visit_rows, task_rows, assignment_rows, care_rows = [], [], [], []
        for n in ids:
            day, slot = divmod(n, per_day)
            starts = START_MS + day * DAY_MS + 7 * 3_600_000 + (slot * 50_000) % (14 * 3_600_000)
            carer, device = f"k{n % CARERS}", f"d{n % CARERS}"
            visit_rows.append(
                {"id": f"v{n:07d}", "tenant_id": "t", "branch_id": "b", "client_id": f"c{n % 50}",
                 "starts_at": starts, "ends_at": starts + 2_700_000, "status": "scheduled", "version": 1,
                 "updated_at": starts - DAY_MS}
            )  # fmt: skip
            task_rows += [
                {"id": f"t{n}-{p}", "visit_id": f"v{n:07d}", "title": title, "position": p}
                for p, title in enumerate(("Medication", "Lunch", "Personal care"))
            ]
            assignment_rows.append({"visit_id": f"v{n:07d}", "carer_id": carer, "assigned_at": 0})
            for m, (kind, at) in enumerate(
                (("check_in", starts + 60_000), ("task_outcome", starts + 600_000),
                 ("task_outcome", starts + 1_200_000), ("check_out", starts + 2_640_000))
            ):  # fmt: skip
                body = f'{{"kind":"{kind}",{LOCATION}}}' if kind != "task_outcome" else '{"kind":"task_outcome"}'
                care_rows.append(
                    {"id": f"r{n}-{m}", "tenant_id": "t", "visit_id": f"v{n:07d}", "carer_id": carer,
                     "device_id": device, "mutation_id": n * 4 + m + 1, "kind": kind,
                     "task_id": f"t{n}-{m}" if kind == "task_outcome" else None, "captured_at": at,
                     "received_at": at + 1_000, "payload": body, "conflict": None}
                )  # fmt: skip
        async with db.write() as conn:
            await conn.execute(insert(visits), visit_rows)
            await conn.execute(insert(tasks), task_rows)
            await conn.execute(insert(visit_assignments), assignment_rows)
            await conn.execute(insert(care_records), care_rows)
    return total


async def _export(db: Database, fmt: str, days: int) -> int:
    """The bytes one export of the whole range writes."""
    clock = ManualClock(START_MS + (days + 1) * DAY_MS)
    export = await VisitVerification(db, clock).export(
        ADMIN, ExportQuery(FIRST_DAY, FIRST_DAY + timedelta(days=days - 1), "b")
    )
    written = 0
    async for chunk in csv_chunks(export) if fmt == "csv" else json_chunks(export):
        written += len(chunk)
    return written


async def measure(url: str, per_day: int, days: int, repeats: int) -> dict[str, dict[str, float]]:
    db = Database(url)
    await db.migrate()
    started = time.perf_counter()
    total = await seed(db, per_day, days)
    async with db.write() as conn:  # the planner statistics a live store has (autovacuum; the retention pass)
        await conn.execute(text("ANALYZE"))
    seeded_s = time.perf_counter() - started
    paged = export_module.PAGE
    pagings = (("streamed", paged), ("one page", total))
    variants = [(name, page, fmt) for name, page in pagings for fmt in ("csv", "json")]
    times: dict[str, list[float]] = {f"{name} {fmt}": [] for name, _page, fmt in variants}
    sizes: dict[str, int] = {}
    for _ in range(repeats):  # alternated, so a busy moment on a shared machine hits every variant alike
        for name, page, fmt in variants:
            export_module.PAGE = page
            t0 = time.perf_counter()
            sizes[f"{name} {fmt}"] = await _export(db, fmt, days)
            times[f"{name} {fmt}"].append(time.perf_counter() - t0)
    results: dict[str, dict[str, float]] = {}
    for name, page, fmt in variants:
        export_module.PAGE = page
        tracemalloc.start()
        await _export(db, fmt, days)
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        key = f"{name} {fmt}"
        results[key] = {"s": statistics.median(times[key]), "mib": sizes[key] / 2**20, "peak_mib": peak / 2**20}
    export_module.PAGE = paged
    results["seed"] = {"s": seeded_s, "visits": total}
    await db.close()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--visits-per-day", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        for store in args.stores.split(","):
            url = (
                f"sqlite:///{Path(workdir) / 'export.db'}"
                if store == "sqlite"
                else await fresh_postgres(args.postgres_admin_url)
            )
            r = await measure(url, args.visits_per_day, args.days, args.repeats)
            print(f"{store}: {r['seed']['visits']:.0f} visits seeded in {r['seed']['s']:.1f} s "
                  f"(first day {to_datetime(START_MS).date()})")  # fmt: skip
            for name, figures in r.items():
                if name != "seed":
                    print(
                        f"  {name:14s} {figures['s'] * 1000:7.0f} ms (median of {args.repeats}), "
                        f"{figures['mib']:6.1f} MiB written, peak traced memory {figures['peak_mib']:6.1f} MiB"
                    )


if __name__ == "__main__":
    asyncio.run(main())
