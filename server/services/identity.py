"""Who is calling: a staff member (office) or a device. Resolved from bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.ids import hash_token
from server.services.errors import Expired, Forbidden, Revoked, Unauthorized
from server.store.schema import credentials, device_users, devices, users


@dataclass(frozen=True)
class Staff:
    user_id: str
    tenant_id: str
    role: str
    branch_id: str | None

    def may_see_branch(self, branch_id: str) -> bool:
        return self.role == "admin" or self.branch_id == branch_id

    def require_branch(self, branch_id: str) -> None:
        if not self.may_see_branch(branch_id):
            raise Forbidden("this branch is outside your access")

    def require_admin(self) -> None:
        if self.role != "admin":
            raise Forbidden("admin role required")


@dataclass(frozen=True)
class DeviceIdentity:
    device_id: str
    tenant_id: str
    uuid: str | None
    carers: dict[str, str] = field(default_factory=dict)
    """carer id -> carer name, for every carer assigned to the device."""
    resync_requested: bool = False
    """The office asked for a clean sync this device has not done yet."""


async def authenticate_staff(conn: AsyncConnection, token: str, now_ms: int) -> Staff:
    row = (
        await conn.execute(
            select(credentials.c.revoked_at, credentials.c.expires_at, users.c.id, users.c.tenant_id, users.c.role)
            .add_columns(users.c.branch_id)
            .join(users, users.c.id == credentials.c.user_id)
            .where(credentials.c.token_hash == hash_token(token), credentials.c.kind == "staff")
        )
    ).first()
    if row is None:
        raise Unauthorized("unknown staff token")
    if row.revoked_at is not None:
        raise Revoked("staff token revoked")
    if row.expires_at is not None and row.expires_at <= now_ms:
        raise Expired("staff token expired; sign in again")
    if row.role not in ("admin", "coordinator"):
        raise Forbidden("not an office user")
    return Staff(user_id=row.id, tenant_id=row.tenant_id, role=row.role, branch_id=row.branch_id)


async def authenticate_device(conn: AsyncConnection, token: str) -> DeviceIdentity:
    row = (
        await conn.execute(
            select(
                credentials.c.revoked_at,
                devices.c.id,
                devices.c.tenant_id,
                devices.c.uuid,
                devices.c.active,
                devices.c.deleted_at,
                devices.c.resync_requested_at,
            )
            .join(devices, devices.c.id == credentials.c.device_id)
            .where(credentials.c.token_hash == hash_token(token), credentials.c.kind == "device")
        )
    ).first()
    if row is None:
        raise Unauthorized("unknown device token")
    if row.revoked_at is not None or not row.active or row.deleted_at is not None:
        raise Revoked("device token revoked, or device deactivated or deleted")
    carer_rows = await conn.execute(
        select(users.c.id, users.c.name)
        .join(device_users, device_users.c.user_id == users.c.id)
        .where(
            device_users.c.device_id == row.id,
            users.c.tenant_id == row.tenant_id,
            users.c.role == "carer",
        )
        .order_by(users.c.id)
    )
    return DeviceIdentity(
        device_id=row.id,
        tenant_id=row.tenant_id,
        uuid=row.uuid,
        carers={r.id: r.name for r in carer_rows},
        resync_requested=row.resync_requested_at is not None,
    )
