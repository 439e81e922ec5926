"""Which devices an office user may see and manage: those of their branch, where a device
belongs to its own branch and to the branches of its carers (admins: every device)."""

from __future__ import annotations

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.services.errors import NotFound
from server.services.identity import Staff
from server.store.schema import device_users, devices, users


async def require_visible_device(conn: AsyncConnection, staff: Staff, device_id: str) -> str:
    """The device's name; NotFound when it is not one of this user's devices."""
    query = select(devices.c.name).where(
        devices.c.id == device_id, devices.c.tenant_id == staff.tenant_id, devices.c.deleted_at.is_(None)
    )
    if staff.role != "admin":
        carer_here = exists().where(
            device_users.c.device_id == devices.c.id,
            users.c.id == device_users.c.user_id,
            users.c.branch_id == staff.branch_id,
        )
        query = query.where(or_(devices.c.branch_id == staff.branch_id, carer_here))
    name = (await conn.execute(query)).scalar_one_or_none()
    if name is None:
        raise NotFound("no such device in your branches")
    return str(name)


async def require_visible_carer(conn: AsyncConnection, staff: Staff, carer_id: str) -> str:
    """The carer's name; NotFound when the carer is not in this user's branches."""
    row = (
        await conn.execute(
            select(users.c.name, users.c.branch_id).where(
                users.c.id == carer_id, users.c.tenant_id == staff.tenant_id, users.c.role == "carer"
            )
        )
    ).first()
    if row is None or not staff.may_see_branch(row.branch_id):
        raise NotFound("no such carer in your branches")
    return str(row.name)
