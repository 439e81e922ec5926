"""Tenant preferences: read, changed by an admin, and pushed live to every device."""

from __future__ import annotations

import msgspec
from sqlalchemy import update

from protocol.codec import encode
from protocol.frames import Preferences, TenantPreferences
from protocol.limits import MAX_SEEN_WINDOW_H
from server.bus.base import Bus
from server.bus.channels import tenant_channel as tenant_channel  # device sockets import it from here
from server.services.errors import InvalidInput
from server.services.office_input import checked_timezone
from server.services.tenant_prefs import load_preferences
from server.store.database import Database
from server.store.schema import tenants

LIMITS = {
    "auto_sync_interval_s": (60, 24 * 3600),
    "mismatch_grace_s": (30, 24 * 3600),
    "stale_after_s": (3600, 30 * 24 * 3600),
    "feed_retention_days": (1, 365),
    "clean_sync_days_back": (0, 31),
    "clean_sync_days_ahead": (1, 62),
    "seen_window_h": (0, MAX_SEEN_WINDOW_H),
    "seen_grace_s": (60, 24 * 3600),
    "seen_lead_s": (0, 24 * 3600),
    "late_grace_s": (0, 4 * 3600),
}


class PreferenceChange(msgspec.Struct, forbid_unknown_fields=True):
    auto_sync_enabled: bool | None = None
    auto_sync_interval_s: int | None = None
    auto_sync_uploads: bool | None = None
    mismatch_grace_s: int | None = None
    stale_after_s: int | None = None
    feed_retention_days: int | None = None
    clean_sync_days_back: int | None = None
    clean_sync_days_ahead: int | None = None
    timezone: str | None = None
    seen_window_h: int | None = None
    seen_grace_s: int | None = None
    seen_lead_s: int | None = None
    late_grace_s: int | None = None


async def change_preferences(db: Database, bus: Bus, tenant_id: str, change: PreferenceChange) -> TenantPreferences:
    values = {k: v for k, v in msgspec.structs.asdict(change).items() if v is not None}
    if not values:
        raise InvalidInput("nothing to change")
    for name, (low, high) in LIMITS.items():
        if name in values and not low <= values[name] <= high:
            raise InvalidInput(f"{name} must be {low} to {high}")
    if "timezone" in values:
        checked_timezone(values["timezone"])
    async with db.write() as conn:
        await conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(**values))
        current = await load_preferences(conn, tenant_id)
    await bus.publish(tenant_channel(tenant_id), encode(Preferences(preferences=current)))
    return current
