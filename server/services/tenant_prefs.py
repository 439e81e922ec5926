"""Tenant preferences as devices receive them."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.frames import TenantPreferences
from server.clock import Clock
from server.services.errors import NotFound
from server.store.database import Database
from server.store.schema import tenants


async def load_preferences(conn: AsyncConnection, tenant_id: str) -> TenantPreferences:
    row = (await conn.execute(select(tenants).where(tenants.c.id == tenant_id))).first()
    if row is None:
        raise NotFound(f"tenant {tenant_id} not found")
    return TenantPreferences(
        auto_sync_enabled=bool(row.auto_sync_enabled),
        auto_sync_interval_s=row.auto_sync_interval_s,
        mismatch_grace_s=row.mismatch_grace_s,
        timezone=row.timezone,
        auto_sync_uploads=bool(row.auto_sync_uploads),
        seen_window_h=row.seen_window_h,
    )


PREFERENCE_COLUMNS = (
    "auto_sync_enabled",
    "auto_sync_interval_s",
    "auto_sync_uploads",
    "mismatch_grace_s",
    "stale_after_s",
    "feed_retention_days",
    "clean_sync_days_back",
    "clean_sync_days_ahead",
    "timezone",
    "seen_window_h",
    "seen_grace_s",
    "seen_lead_s",
    "late_grace_s",
)
"""Every tenant preference (docs/protocol.md, "Tenant preferences")."""


async def load_all_preferences(conn: AsyncConnection, tenant_id: str) -> dict[str, object]:
    """Every preference of the tenant, as the office sees and changes them."""
    row = (
        await conn.execute(select(*(tenants.c[name] for name in PREFERENCE_COLUMNS)).where(tenants.c.id == tenant_id))
    ).first()
    if row is None:
        raise NotFound(f"tenant {tenant_id} not found")
    values = dict(row._mapping)
    for flag in ("auto_sync_enabled", "auto_sync_uploads"):
        values[flag] = bool(values[flag])
    return values


class PreferencesCache:
    """Tenant preferences for the hello path, kept for ``ttl_s`` per tenant.

    A reconnect storm would otherwise read the same tenant row once per device: the
    greetings asking while a tenant's preferences are being read share that one read
    (and one pooled connection) instead of each opening its own. A change made on this
    node is seen at once (``forget``: a read already running is not kept); other nodes
    see it within ``ttl_s``, and every connected device gets the ``preferences`` frame
    through the bus anyway.
    """

    def __init__(self, clock: Clock, ttl_s: float = 5.0) -> None:
        self.clock = clock
        self.ttl_ms = int(ttl_s * 1000)
        self._held: dict[str, tuple[int, TenantPreferences]] = {}
        self._reading: dict[str, asyncio.Task[TenantPreferences]] = {}
        self.reads = 0
        """Store reads made so far (for tests and benchmarks)."""

    async def read(self, db: Database, tenant_id: str) -> TenantPreferences:
        """The tenant's preferences: the held ones while fresh, else the read running for
        them, else a new read."""
        held = self.cached(tenant_id)
        if held is not None:
            return held
        reading = self._reading.get(tenant_id)
        if reading is None:
            reading = asyncio.create_task(self._read(db, tenant_id), name="preferences-read")
            reading.add_done_callback(_retrieved)
            self._reading[tenant_id] = reading
        return await asyncio.shield(reading)  # a greeting given up on does not cancel the others' read

    async def _read(self, db: Database, tenant_id: str) -> TenantPreferences:
        me = asyncio.current_task()
        try:
            now = self.clock.now_ms()
            self.reads += 1
            async with db.read() as conn:
                preferences = await load_preferences(conn, tenant_id)
            if self._reading.get(tenant_id) is me:  # not forgotten meanwhile
                self._held[tenant_id] = (now, preferences)
            return preferences
        finally:
            if self._reading.get(tenant_id) is me:
                del self._reading[tenant_id]

    def cached(self, tenant_id: str) -> TenantPreferences | None:
        """The tenant's preferences if held and fresh, without a store read."""
        held = self._held.get(tenant_id)
        if held is not None and self.clock.now_ms() - held[0] < self.ttl_ms:
            return held[1]
        return None

    def forget(self, tenant_id: str) -> None:
        """The tenant's preferences changed here: the next greeting reads them anew."""
        self._held.pop(tenant_id, None)
        self._reading.pop(tenant_id, None)


def _retrieved(task: asyncio.Task[TenantPreferences]) -> None:
    """Mark a read's failure as seen: every greeting waiting on it was told, or gave up."""
    if not task.cancelled():
        task.exception()
