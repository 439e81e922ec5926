"""Feed retention: changes older than the tenant's retention period are removed.

Runs once per cluster (lease). ``feeds.compacted_through`` records how far each feed was
cut, so a device whose position is behind it is told to clean-sync instead of replaying.
Expired clean-sync snapshots are removed in the same pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, func, select, update

from server.clock import Clock
from server.store.database import Database
from server.store.schema import feed_entries, feeds, snapshot_pages, snapshots, tenants

DAY_MS = 24 * 3600 * 1000


@dataclass
class RetentionReport:
    entries_removed: int = 0
    snapshots_removed: int = 0


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
    async with db.write() as conn:
        expired = select(snapshots.c.id).where(snapshots.c.expires_at < now)
        await conn.execute(delete(snapshot_pages).where(snapshot_pages.c.snapshot_id.in_(expired)))
        report.snapshots_removed = int(
            (await conn.execute(delete(snapshots).where(snapshots.c.expires_at < now))).rowcount
        )
    return report
