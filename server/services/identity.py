"""Who is calling: a staff member (office) or a device. Resolved from bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, bindparam, select
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
    """A coordinator's branch (never None for one); None for an admin, who sees every branch."""
    credential_id: str | None = field(default=None, compare=False)
    """The token this staff member authenticated with (None when built in-process)."""
    expires_at_ms: int | None = field(default=None, compare=False)
    last_used_ms: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.role != "admin" and self.branch_id is None:
            raise ValueError("an office user other than an admin needs a branch")

    def may_see_branch(self, branch_id: str | None) -> bool:
        if self.role == "admin":
            return True
        return branch_id is not None and self.branch_id == branch_id

    def scope_branch(self, wanted: str | None = None) -> str | None:
        """The branch a listing is limited to: ``wanted`` if visible, a coordinator's own
        branch when none is wanted, None (every branch) for an admin only."""
        if wanted is not None:
            self.require_branch(wanted)
            return wanted
        return None if self.role == "admin" else self.branch_id

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
            .add_columns(users.c.branch_id, credentials.c.id.label("credential_id"), credentials.c.last_used_at)
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
    if row.role != "admin" and row.branch_id is None:
        raise Forbidden("this coordinator has no branch; an admin must give them one")
    return Staff(
        user_id=row.id,
        tenant_id=row.tenant_id,
        role=row.role,
        branch_id=row.branch_id,
        credential_id=row.credential_id,
        expires_at_ms=row.expires_at,
        last_used_ms=row.last_used_at,
    )


_DEVICE_BY_TOKEN = (
    select(
        credentials.c.revoked_at,
        devices.c.id,
        devices.c.tenant_id,
        devices.c.uuid,
        devices.c.active,
        devices.c.deleted_at,
        devices.c.resync_requested_at,
        users.c.id.label("carer_id"),
        users.c.name.label("carer_name"),
    )
    .join(devices, devices.c.id == credentials.c.device_id)
    .outerjoin(device_users, device_users.c.device_id == devices.c.id)
    .outerjoin(
        users,
        and_(users.c.id == device_users.c.user_id, users.c.tenant_id == devices.c.tenant_id, users.c.role == "carer"),
    )
    .where(credentials.c.token_hash == bindparam("token_hash"), credentials.c.kind == "device")
    .order_by(users.c.id)
)
"""The device and its carers in one statement, built once (every connect runs it)."""


async def authenticate_device(conn: AsyncConnection, token: str) -> DeviceIdentity:
    rows = (await conn.execute(_DEVICE_BY_TOKEN, {"token_hash": hash_token(token)})).all()
    if not rows:
        raise Unauthorized("unknown device token")
    row = rows[0]
    if row.revoked_at is not None or not row.active or row.deleted_at is not None:
        raise Revoked("device token revoked, or device deactivated or deleted")
    return DeviceIdentity(
        device_id=row.id,
        tenant_id=row.tenant_id,
        uuid=row.uuid,
        carers={r.carer_id: r.carer_name for r in rows if r.carer_id is not None},
        resync_requested=row.resync_requested_at is not None,
    )
