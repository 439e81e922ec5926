"""Named expiring leases in the database, and jobs that run once per cluster.

A lease is held by one node until it expires; the holder renews it each round. Both
statements are safe under concurrent nodes: the UPDATE re-checks its condition after
waiting for a competing row lock (PostgreSQL) or runs serialised (SQLite), and the
INSERT ... ON CONFLICT DO NOTHING lets exactly one node create a missing lease.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import or_, update

from server.clock import Clock
from server.periodic import Periodic
from server.store.database import Database
from server.store.schema import leases
from server.store.upsert import insert_for


async def try_acquire(db: Database, name: str, holder: str, ttl_ms: int, now_ms: int) -> bool:
    """Take or renew lease ``name`` for ``holder``; True if ``holder`` now holds it."""
    async with db.write() as conn:
        renewed = await conn.execute(
            update(leases)
            .where(leases.c.name == name, or_(leases.c.holder == holder, leases.c.expires_at < now_ms))
            .values(holder=holder, expires_at=now_ms + ttl_ms)
        )
        if renewed.rowcount:
            return True
        created = await conn.execute(
            insert_for(conn, leases)
            .values(name=name, holder=holder, expires_at=now_ms + ttl_ms)
            .on_conflict_do_nothing(index_elements=[leases.c.name])
        )
        return bool(created.rowcount)


class ClusterJob(Periodic):
    """Runs ``work`` every ``interval_s`` on whichever node holds the job's lease."""

    def __init__(
        self,
        name: str,
        interval_s: float,
        work: Callable[[], Awaitable[None]],
        db: Database,
        clock: Clock,
        node_id: str,
    ) -> None:
        super().__init__(interval_s, f"job-{name}")
        self.job_name = name
        self.work = work
        self.db = db
        self.clock = clock
        self.node_id = node_id
        self.runs = 0

    async def step(self) -> None:
        ttl_ms = int(self.interval_s * 3 * 1000)
        if await try_acquire(self.db, f"job:{self.job_name}", self.node_id, ttl_ms, self.clock.now_ms()):
            await self.work()
            self.runs += 1
