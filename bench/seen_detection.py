"""The sync-mismatch pass with the "delivered but not seen" pass after it, at scale.

    python -m bench.seen_detection [--carers 10000] [--entries 20] [--overdue 0.1] [--unseen 0.1] [--repeats 5]

Seeds the tenant of ``bench.mismatch_detection`` (N carers, each with one device, one visit
starting within the hour and a feed of E entries, a share behind on acks) and records that
every carer but a share (``--unseen``) saw their visit's latest change. Then times, on each
store: the sync-mismatch steady pass alone (today's pass), the "not seen" candidate query,
the first "not seen" pass (raising an alert per delivered, unseen change; deleted and
raised again per repeat), and the three detectors together (sync mismatch, not seen, late
visits, and the visit-status announcements that run with them; medians): steady, their
clock moving a pass interval at a time (the sync-mismatch pass's stays put, as in
``bench.mismatch_detection``), the "not seen" pass reading what happened since its
previous one; and with a "not seen" pass that reads every
visit around now (a node that just took the passes' lease, or every
``SEEN_FULL_PASS_INTERVAL_S``). With ``--touched N``, N carers' phones acknowledge again
before each steady pass, so it reads their visits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, text, update

from bench.mismatch_detection import NOW, scratch_postgres, seed
from server.bus.memory import MemoryBus
from server.clock import ManualClock
from server.services.mismatch.detector import MismatchDetector
from server.services.seen_alerts import candidates
from server.services.seen_alerts.detector import SeenAlerts, SeenPassReport
from server.services.visit_alerts.detector import LateVisits
from server.services.visit_status_feed import VisitStatusFeed
from server.store.database import Database
from server.store.schema import (
    carer_seen,
    console_events,
    console_feeds,
    device_acks,
    seen_alert_audit,
    seen_alerts,
    visits,
)
from server.tunables import SEEN_DETECTION_INTERVAL_S


async def record_seen(db: Database, carers: int, entries: int, unseen_share: float) -> None:
    """Every carer saw their latest change, but one in ``1 / unseen_share``; each visit's
    ``updated_at`` is its last change's commit time, as the rota writes it."""
    async with db.write() as conn:
        await conn.execute(update(visits).values(updated_at=NOW - 600_000))
    skip_every = max(1, round(1 / unseen_share)) if unseen_share > 0 else 0
    for start in range(0, carers, 2000):
        rows = [
            {
                "carer_id": f"k{i}",
                "epoch": 1,
                "seq": entries,
                "tenant_id": "t",
                "visit_id": f"v{i}",
                "device_id": f"d{i}",
                "committed_at": NOW - 600_000,
                "seen_at": NOW - 300_000,
                "recorded_at": NOW - 300_000,
            }
            for i in range(start, min(carers, start + 2000))
            if not (skip_every and i % skip_every == 1)
        ]
        async with db.write() as conn:
            await conn.execute(insert(carer_seen), rows)


async def measure(
    url: str, carers: int, entries: int, overdue: float, unseen: float, repeats: int, touched: int = 0
) -> dict[str, Any]:
    db = Database(url)
    await db.migrate()
    await seed(db, carers, entries, overdue)
    await record_seen(db, carers, entries, unseen)
    await _analyze(db)
    clock = ManualClock(NOW)
    mismatch, not_seen = MismatchDetector(db, MemoryBus(), clock), SeenAlerts(db, MemoryBus(), clock)
    # The new passes on a clock of their own, which moves: the sync-mismatch pass stays at
    # NOW, as in bench.mismatch_detection (on a moving clock it also refreshes each open
    # alert once a minute, whatever the other passes do).
    moving = ManualClock(NOW)
    late = LateVisits(db, MemoryBus(), moving)
    status = VisitStatusFeed(db, MemoryBus(), moving)
    await mismatch.run_once()  # the sync-mismatch alerts are raised once, then steady
    query_times = []
    for _ in range(repeats):
        t = time.perf_counter()
        async with db.read() as conn:
            due = await candidates.due(conn, NOW)
        query_times.append(time.perf_counter() - t)
    first_times = []
    for attempt in range(repeats):
        if attempt:
            await _forget_seen_alerts(db)
        t = time.perf_counter()
        first = await not_seen.run_once()
        first_times.append(time.perf_counter() - t)
    # Steady: the clock moves a pass interval at a time, as on the lease holder. The passes
    # within the lookback of the moment every change became due (NOW) read every visit;
    # the later ones only what happened since (nothing, here).
    incremental = SeenAlerts(db, MemoryBus(), moving)
    warmup_full = 0
    while (await incremental.run_once()).full:
        warmup_full += 1
        moving.advance(SEEN_DETECTION_INTERVAL_S)
    mismatch_times: list[float] = []
    steady: dict[str, list[float]] = {"all": [], "new": []}
    full: dict[str, list[float]] = {"all": [], "new": []}
    for attempt in range(repeats):
        moving.advance(SEEN_DETECTION_INTERVAL_S)
        await _phones_acknowledge(db, carers, touched, attempt, moving.now_ms())
        t = time.perf_counter()
        await mismatch.run_once()
        mismatch_times.append(time.perf_counter() - t)
        report = await _three_passes(mismatch, incremental, late, status, steady)
        assert report.raised == report.resolved == 0 and not report.full
        # a node that just took the lease (or every SEEN_FULL_PASS_INTERVAL_S)
        report = await _three_passes(mismatch, SeenAlerts(db, MemoryBus(), moving), late, status, full)
        assert report.raised == report.resolved == 0 and report.full
    await db.close()
    return {
        "due": len(due),
        "raised": first.raised,
        "query_ms": statistics.median(query_times) * 1000,
        "first_ms": statistics.median(first_times) * 1000,
        "mismatch_ms": statistics.median(mismatch_times) * 1000,
        "steady_ms": statistics.median(steady["all"]) * 1000,
        "steady_new_ms": statistics.median(steady["new"]) * 1000,
        "full_ms": statistics.median(full["all"]) * 1000,
        "full_new_ms": statistics.median(full["new"]) * 1000,
        "warmup_full": warmup_full,
    }


async def _phones_acknowledge(db: Database, carers: int, count: int, round_: int, now_ms: int) -> None:
    """``count`` carers' phones (other ones each round) acknowledge again now: their visits
    are touched, so the next steady "not seen" pass reads them (and finds nothing due)."""
    if not count:
        return
    ids = [f"k{(round_ * count + i) % carers}" for i in range(count)]
    async with db.write() as conn:
        await conn.execute(update(device_acks).where(device_acks.c.carer_id.in_(ids)).values(acked_at=now_ms))


async def _three_passes(
    mismatch: MismatchDetector,
    not_seen: SeenAlerts,
    late: LateVisits,
    status: VisitStatusFeed,
    times: dict[str, list[float]],
) -> SeenPassReport:
    """The sync-mismatch pass, then the new ones (with the visit-status announcements that
    run beside the late-visit pass); their times, all and new."""
    t = time.perf_counter()
    await mismatch.run_once()
    between = time.perf_counter()
    report = await not_seen.run_once()
    await late.run_once()
    announced = await status.run_once()
    done = time.perf_counter()
    assert announced == 0, "no visit of the seed is late or missed"
    times["all"].append(done - t)
    times["new"].append(done - between)
    return report


async def _analyze(db: Database) -> None:
    """Planner statistics as a running cluster has them: PostgreSQL's autovacuum, the SQLite
    node's own refresh every retention interval (``Database.refresh_statistics``)."""
    if await db.refresh_statistics():
        return
    if db.dialect == "postgresql":
        async with db.engine.connect() as conn:
            await conn.execute(text("COMMIT"))
            await conn.execute(text("ANALYZE"))


async def _forget_seen_alerts(db: Database) -> None:
    async with db.write() as conn:
        for table in (seen_alert_audit, seen_alerts, console_events, console_feeds):
            await conn.execute(delete(table))
    await _analyze(db)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--carers", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=20, help="feed entries per carer")
    parser.add_argument("--overdue", type=float, default=0.1, help="share of carers behind on acks")
    parser.add_argument("--unseen", type=float, default=0.1, help="share of carers who did not see their change")
    parser.add_argument(
        "--touched", type=int, default=0, help="carers whose phones acknowledge again before each steady pass"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--postgres-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    args = parser.parse_args()
    print(
        f"carers={args.carers} entries={args.carers * args.entries} overdue={args.overdue} unseen={args.unseen}"
        f" touched={args.touched}"
    )
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.stores.split(","):
            async with contextlib.AsyncExitStack() as stack:
                url = (
                    f"sqlite:///{Path(workdir) / 'bench.db'}"
                    if name == "sqlite"
                    else await stack.enter_async_context(scratch_postgres(args.postgres_admin_url))
                )
                r = await measure(url, args.carers, args.entries, args.overdue, args.unseen, args.repeats, args.touched)
            m = r["mismatch_ms"]
            print(
                f"{name:10s} due={r['due']} raised={r['raised']} | not-seen query {r['query_ms']:.0f} ms"
                f" | first not-seen pass {r['first_ms']:.0f} ms | sync-mismatch pass alone {m:.0f} ms"
                f" | all three passes: steady {r['steady_ms']:.0f} ms ({r['steady_ms'] / m:.2f}x;"
                f" the two new ones {r['steady_new_ms']:.0f} ms), with a full not-seen pass"
                f" {r['full_ms']:.0f} ms ({r['full_ms'] / m:.2f}x; the two new ones {r['full_new_ms']:.0f} ms)"
                f" | {r['warmup_full']} full passes before steady (medians of {args.repeats})"
            )


if __name__ == "__main__":
    asyncio.run(main())
