"""Devices: creation with a token, revocation, and per-device bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.clock import Clock
from server.ids import hash_token, new_id, new_token
from server.services.errors import Conflict, InvalidInput, NotFound
from server.store.database import Database
from server.store.schema import credentials, device_users, devices, users


@dataclass(frozen=True)
class NewDevice:
    device_id: str
    token: str


class DeviceService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def create_device(
        self,
        tenant_id: str,
        *,
        uuid: str,
        name: str,
        carer_ids: list[str],
        branch_id: str | None = None,
    ) -> NewDevice:
        """Register a device for some carers and return its (only) plaintext token."""
        if not uuid or len(uuid) > 64:
            raise InvalidInput("uuid must be 1 to 64 characters")
        device_id = new_id()
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            taken = (
                await conn.execute(select(devices.c.id).where(devices.c.tenant_id == tenant_id, devices.c.uuid == uuid))
            ).first()
            if taken is not None:
                raise Conflict(f"a device with uuid {uuid} already exists in this tenant")
            found = {
                r.id
                for r in await conn.execute(
                    select(users.c.id).where(
                        users.c.id.in_(carer_ids),
                        users.c.tenant_id == tenant_id,
                        users.c.role == "carer",
                    )
                )
            }
            if found != set(carer_ids):
                raise InvalidInput("every assigned user must be a carer of this tenant")
            await conn.execute(
                insert(devices).values(
                    id=device_id,
                    tenant_id=tenant_id,
                    branch_id=branch_id,
                    uuid=uuid,
                    name=name,
                    created_at=now,
                )
            )
            for carer_id in carer_ids:
                await conn.execute(insert(device_users).values(device_id=device_id, user_id=carer_id))
            token = await _issue_device_token(conn, tenant_id, device_id, now)
        return NewDevice(device_id=device_id, token=token)

    async def revoke(self, tenant_id: str, device_id: str) -> None:
        """Revoke every token of the device. Live sockets are closed by the caller."""
        async with self.db.write() as conn:
            result = await conn.execute(
                update(credentials)
                .where(
                    credentials.c.device_id == device_id,
                    credentials.c.tenant_id == tenant_id,
                    credentials.c.revoked_at.is_(None),
                )
                .values(revoked_at=self.clock.now_ms())
            )
            if result.rowcount == 0:
                raise NotFound(f"device {device_id} has no live token")


async def _issue_device_token(conn: AsyncConnection, tenant_id: str, device_id: str, now: int) -> str:
    token = new_token("cdt")
    await conn.execute(
        insert(credentials).values(
            id=new_id(),
            tenant_id=tenant_id,
            kind="device",
            token_hash=hash_token(token),
            device_id=device_id,
            created_at=now,
        )
    )
    return token
