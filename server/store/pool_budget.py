"""How many database connections one node holds, and how they are shared out.

``--database-pool-size`` is the most connections a node opens to its database. On
PostgreSQL up to :data:`~server.store.hot.pg_connections.HOT_CONNECTIONS` of them are kept for hot
writes (rota changes, on plain asyncpg) and the rest are SQLAlchemy's pool, half kept open
and half opened only under load (overflow). On SQLite every connection is the pool's (the
writer thread has its own).

The default (0) is derived per store. PostgreSQL: 24, which is the 8 hot-write connections
and 16 for reads and other writes; PostgreSQL's default ``max_connections`` is 100 with 3
kept for superusers, so three nodes (72) leave room for the migrate job, a ``pg_dump``
and a few ``psql`` sessions; a fourth node needs either a smaller pool or a larger
``max_connections`` (docs/capacity.md). The 16 are what a node's one event loop keeps busy:
a device query holds a connection for a few milliseconds, and a connect storm queues for
the pool (``pool_timeout``) rather than opening more. SQLite: 40 (20 kept, 20 overflow),
the pool that stopped a 400-a-second connect ramp from timing out (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from server.store.hot.pg_connections import HOT_CONNECTIONS

DEFAULT_POSTGRESQL_POOL = 24
DEFAULT_SQLITE_POOL = 40
MIN_POSTGRESQL_POOL = 2
"""One hot-write connection and one for the pool, at least."""


@dataclass(frozen=True)
class PoolBudget:
    total: int
    """Connections the node may hold at most."""
    hot: int
    """Of which kept for hot writes (PostgreSQL only; 0 on SQLite)."""
    kept: int
    """SQLAlchemy's ``pool_size``."""
    overflow: int
    """SQLAlchemy's ``max_overflow``."""


def pool_budget(url: str, size: int = 0) -> PoolBudget:
    """The connections for a database URL (async or plain) and a configured size (0: derived)."""
    postgresql = url.startswith(("postgresql", "postgres"))
    if postgresql:
        total = max(size or DEFAULT_POSTGRESQL_POOL, MIN_POSTGRESQL_POOL)
        hot = min(HOT_CONNECTIONS, total // 3 or 1)
    else:
        total = max(size or DEFAULT_SQLITE_POOL, 1)
        hot = 0
    orm = total - hot
    kept = (orm + 1) // 2
    return PoolBudget(total=total, hot=hot, kept=kept, overflow=orm - kept)
