"""Feed retention: changes older than the tenant's retention period are removed.

Runs once per cluster (lease). ``feeds.compacted_through`` records how far each feed was
cut, so a device whose position is behind it is told to clean-sync instead of replaying.
The delivery marks of the removed changes go with them (:mod:`server.services.delivery_times`).
Expired clean-sync snapshots are removed in the same pass, and so are rejected mutations
past their retention and the upload counts of past days (:func:`prune_upload_ledger`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, func, select, tuple_, update

from server.clock import Clock
from server.store.database import Database
from server.store.schema import (
    delivery_marks,
    device_mutations,
    device_upload_usage,
    feed_entries,
    feeds,
    snapshot_pages,
    snapshots,
    tenants,
)

DAY_MS = 24 * 3600 * 1000


@dataclass
class RetentionReport:
    entries_removed: int = 0
    delivery_marks_removed: int = 0
    snapshots_removed: int = 0
    rejected_mutations_removed: int = 0
    upload_counts_removed: int = 0


async def compact_feeds(db: Database, clock: Clock) -> RetentionReport:
    now = clock.now_ms()
    report = RetentionReport()
    async with db.read() as conn:
        policies = [(t.id, t.feed_retention_days) for t in await conn.execute(select(tenants))]
    for tenant_id, days in policies:
        cutoff = now - days * DAY_MS
        async with db.write() as conn:
            old = (
                select(feed_entries.c.carer_id, func.max(feed_entries.c.seq).label("through"))
                .join(feeds, and_(feeds.c.carer_id == feed_entries.c.carer_id, feeds.c.epoch == feed_entries.c.epoch))
                .where(feeds.c.tenant_id == tenant_id, feed_entries.c.committed_at < cutoff)
                .group_by(feed_entries.c.carer_id)
            )
            cut = (await conn.execute(old)).all()
            for row in cut:
                await conn.execute(
                    update(feeds)
                    .where(feeds.c.carer_id == row.carer_id, feeds.c.compacted_through < row.through)
                    .values(compacted_through=row.through)
                )
                removed = await conn.execute(
                    delete(feed_entries).where(
                        feed_entries.c.carer_id == row.carer_id, feed_entries.c.seq <= row.through
                    )
                )
                report.entries_removed += int(removed.rowcount)
            # a delivery mark older than the cut-off covers only changes committed before it
            tenant_carers = select(feeds.c.carer_id).where(feeds.c.tenant_id == tenant_id)
            marks = await conn.execute(
                delete(delivery_marks).where(
                    delivery_marks.c.delivered_at < cutoff, delivery_marks.c.carer_id.in_(tenant_carers)
                )
            )
            report.delivery_marks_removed += int(marks.rowcount)
    async with db.write() as conn:
        expired = select(snapshots.c.id).where(snapshots.c.expires_at < now)
        await conn.execute(delete(snapshot_pages).where(snapshot_pages.c.snapshot_id.in_(expired)))
        report.snapshots_removed = int(
            (await conn.execute(delete(snapshots).where(snapshots.c.expires_at < now))).rowcount
        )
    return report


async def prune_upload_ledger(db: Database, clock: Clock, rejected_retention_days: float) -> RetentionReport:
    """Remove rejected mutations received more than ``rejected_retention_days`` ago (a
    device retrying one after that is judged again) and the upload counts of past days.

    Rejected mutations go in batches of :data:`PRUNE_BATCH`, each its own transaction, so
    a large backlog never holds the store's writer for long."""
    cutoff = clock.now_ms() - int(rejected_retention_days * DAY_MS)
    report = RetentionReport()
    while True:
        async with db.write() as conn:
            batch = (
                select(device_mutations.c.device_id, device_mutations.c.mutation_id)
                .where(device_mutations.c.status == "rejected", device_mutations.c.received_at < cutoff)
                .limit(PRUNE_BATCH)
            )
            removed = await conn.execute(
                delete(device_mutations).where(
                    tuple_(device_mutations.c.device_id, device_mutations.c.mutation_id).in_(batch)
                )
            )
        report.rejected_mutations_removed += int(removed.rowcount)
        if removed.rowcount < PRUNE_BATCH:
            break
    async with db.write() as conn:
        past = delete(device_upload_usage).where(device_upload_usage.c.day < clock.now_ms() // DAY_MS)
        report.upload_counts_removed = int((await conn.execute(past)).rowcount)
    return report


PRUNE_BATCH = 5000
