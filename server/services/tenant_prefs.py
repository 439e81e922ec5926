"""Tenant preferences as devices receive them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.frames import TenantPreferences
from server.services.errors import NotFound
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
    )
