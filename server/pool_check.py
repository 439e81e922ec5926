"""The start-up warning when the cluster's database pools add up to more than PostgreSQL allows.

Each node may open up to its pool's connections (``--database-pool-size``). At start a
node on PostgreSQL reads the server's ``max_connections`` (less the connections kept for
superusers) and counts the nodes: those alive in the cluster's node table besides itself
plus itself, or ``--expected-nodes`` when that is more (nodes starting together do not see
each other yet). When that many pools do not fit, it logs one warning naming the numbers
and what to change. Nothing is refused: the pools only open what the load needs, and a
checkout that cannot get a connection answers 503 as in any store outage.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from server.clock import SystemClock
from server.cluster.presence import live_node
from server.settings import Settings
from server.store.database import Database
from server.store.schema import nodes

log = logging.getLogger("caresync.pool")


@dataclass(frozen=True)
class PoolFit:
    nodes: int
    pool: int
    max_connections: int
    reserved: int

    @property
    def available(self) -> int:
        """Connections PostgreSQL gives to ordinary roles."""
        return self.max_connections - self.reserved

    @property
    def needed(self) -> int:
        return self.nodes * self.pool

    @property
    def fits(self) -> bool:
        return self.needed <= self.available

    def warning(self) -> str:
        per_node = max(self.available // self.nodes, 0)
        return (
            f"{self.nodes} node(s) x {self.pool} database connections each (--database-pool-size) = {self.needed}, "
            f"more than the {self.available} PostgreSQL allows (max_connections {self.max_connections} less "
            f"{self.reserved} for superusers): under load, connections will be refused. Set "
            f"--database-pool-size to {per_node} or less (less again to leave room for the migrate job, backups "
            "and psql), or raise max_connections"
        )


async def pool_fit(db: Database, settings: Settings, node_id: str) -> PoolFit | None:
    """How the cluster's pools compare with PostgreSQL's limit (None on SQLite)."""
    if db.dialect != "postgresql":
        return None
    async with db.read() as conn:
        max_connections = int((await conn.execute(text("SHOW max_connections"))).scalar_one())
        reserved = int((await conn.execute(text("SHOW superuser_reserved_connections"))).scalar_one())
    others = await _other_live_nodes(db, node_id)
    return PoolFit(
        nodes=max(settings.expected_nodes, others + 1),
        pool=db.budget.total,
        max_connections=max_connections,
        reserved=reserved,
    )


async def _other_live_nodes(db: Database, node_id: str) -> int:
    now = SystemClock().now_ms()
    try:
        async with db.read() as conn:
            count = await conn.execute(
                select(func.count()).select_from(nodes).where(live_node(now), nodes.c.id != node_id)
            )
            return int(count.scalar_one())
    except DBAPIError:  # no schema yet: the first node of a new install
        return 0


async def warn_if_pools_exceed_server(settings: Settings, node_id: str) -> PoolFit | None:
    """Log the warning when the pools do not fit; the comparison (None on SQLite)."""
    if not settings.database_url.startswith(("postgresql", "postgres")):
        return None
    db = Database(settings.database_url, pool_size=settings.database_pool_size)
    try:
        fit = await pool_fit(db, settings, node_id)
    except Exception as exc:  # a check, never a reason not to start
        log.warning("could not compare the database pools with PostgreSQL's max_connections: %s", exc)
        return None
    finally:
        await db.close()
    if fit is not None and not fit.fits:
        log.warning(fit.warning())
    return fit
