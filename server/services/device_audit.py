"""Who did what to a device from the console, and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.clock import to_datetime
from server.ids import new_id
from server.store.schema import device_audit, devices, users

ACTIONS = ("enrolled", "code", "renamed", "revoked", "deactivated", "reactivated")


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    action: str
    device_id: str
    device_name: str
    actor_name: str
    detail: str


async def record(
    conn: AsyncConnection, tenant_id: str, device_id: str, action: str, actor_id: str, at: int, detail: str = ""
) -> None:
    """Write one entry in the caller's transaction (the change and its record land together)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown device action {action!r}")
    await conn.execute(
        insert(device_audit).values(
            id=new_id(),
            tenant_id=tenant_id,
            device_id=device_id,
            at=at,
            action=action,
            actor_id=actor_id,
            detail=detail[:200],
        )
    )


async def recent(conn: AsyncConnection, tenant_id: str, device_ids: list[str], limit: int = 20) -> list[AuditEntry]:
    """The newest entries about these devices, newest first."""
    if not device_ids:
        return []
    rows = await conn.execute(
        select(device_audit, devices.c.name.label("device_name"), users.c.name.label("actor_name"))
        .join(devices, devices.c.id == device_audit.c.device_id)
        .outerjoin(users, users.c.id == device_audit.c.actor_id)
        .where(device_audit.c.tenant_id == tenant_id, device_audit.c.device_id.in_(device_ids))
        .order_by(device_audit.c.at.desc(), device_audit.c.id)
        .limit(limit)
    )
    return [
        AuditEntry(
            at=to_datetime(r.at),
            action=r.action,
            device_id=r.device_id,
            device_name=r.device_name,
            actor_name=r.actor_name or "someone",
            detail=r.detail,
        )
        for r in rows
    ]
