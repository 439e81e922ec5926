"""The User Device Relationship report for 10,000 devices, JSON and CSV, on both stores.

    python -m bench.device_report [--devices 10000] [--repeats 5]

Seeds with bench.mismatch_detection's bulk seeding (one device per carer, 20 feed entries
each, 10% of devices behind), then times building the whole report, a 500-row JSON page,
encoding all rows as JSON, and writing the CSV download. Medians of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from bench.mismatch_detection import NOW, scratch_postgres, seed
from server.clock import ManualClock
from server.services.device_report import DeviceReport, ReportQuery, to_csv
from server.services.identity import Staff
from server.store.database import Database

ADMIN = Staff(user_id="admin", tenant_id="t", role="admin", branch_id=None)


async def _median_ms(repeats: int, work: Callable[[], Awaitable[Any]]) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        await work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def measure(url: str, devices: int, repeats: int) -> dict[str, float]:
    db = Database(url)
    await db.migrate()
    await seed(db, devices, 20, 0.1)
    report = DeviceReport(db, ManualClock(NOW))
    whole = await report.build(ADMIN, ReportQuery(page_size=None))
    assert whole.total == devices

    async def encode_json() -> None:
        msgspec.json.encode({"devices": whole.rows})

    async def write_csv() -> None:
        to_csv(whole)

    results = {
        "build_all_ms": await _median_ms(repeats, lambda: report.build(ADMIN, ReportQuery(page_size=None))),
        "page_500_ms": await _median_ms(repeats, lambda: report.build(ADMIN, ReportQuery(page_size=500))),
        "json_encode_ms": await _median_ms(repeats, encode_json),
        "csv_ms": await _median_ms(repeats, write_csv),
        "csv_kib": len(to_csv(whole).encode()) / 1024,
    }
    await db.close()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--postgres-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    async with scratch_postgres(args.postgres_admin_url) as postgres_url:
        with tempfile.TemporaryDirectory() as workdir:
            stores = {"sqlite": f"sqlite:///{Path(workdir) / 'report.db'}", "postgresql": postgres_url}
            for name, url in stores.items():
                r = await measure(url, args.devices, args.repeats)
                print(
                    f"{name:10s} devices={args.devices}: build all rows {r['build_all_ms']:.0f} ms | one 500-row page "
                    f"{r['page_500_ms']:.0f} ms | JSON encode all {r['json_encode_ms']:.0f} ms | CSV all "
                    f"{r['csv_ms']:.0f} ms ({r['csv_kib']:.0f} KiB) (medians of {args.repeats})"
                )


if __name__ == "__main__":
    asyncio.run(main())
