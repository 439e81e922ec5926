"""Tenants, branches, users and clients: the people and places the rota refers to."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.clock import Clock
from server.ids import hash_token, new_id, new_token
from server.services import feeds
from server.services.errors import InvalidInput, NotFound
from server.store.database import Database
from server.store.schema import branches, clients, credentials, tenants, users

ROLES = ("carer", "coordinator", "admin")


@dataclass(frozen=True)
class NewTenant:
    tenant_id: str
    admin_id: str
    admin_token: str


class DirectoryService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def create_tenant(self, name: str, timezone: str = "Europe/London") -> NewTenant:
        """A tenant with its first admin user and that admin's staff token."""
        _require_text(name, "name")
        tenant_id, admin_id = new_id(), new_id()
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            await conn.execute(insert(tenants).values(id=tenant_id, name=name, timezone=timezone, created_at=now))
            await conn.execute(
                insert(users).values(
                    id=admin_id,
                    tenant_id=tenant_id,
                    branch_id=None,
                    name="Administrator",
                    role="admin",
                    created_at=now,
                )
            )
            token = await _issue_staff_token(conn, tenant_id, admin_id, now)
        return NewTenant(tenant_id=tenant_id, admin_id=admin_id, admin_token=token)

    async def create_branch(self, tenant_id: str, name: str) -> str:
        _require_text(name, "name")
        branch_id = new_id()
        async with self.db.write() as conn:
            await conn.execute(insert(branches).values(id=branch_id, tenant_id=tenant_id, name=name))
        return branch_id

    async def create_user(self, tenant_id: str, branch_id: str | None, name: str, role: str) -> str:
        """A user; a carer also gets an empty feed (epoch 1, head 0)."""
        _require_text(name, "name")
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
        user_id = new_id()
        async with self.db.write() as conn:
            if branch_id is not None:
                await _require_branch(conn, tenant_id, branch_id)
            await conn.execute(
                insert(users).values(
                    id=user_id,
                    tenant_id=tenant_id,
                    branch_id=branch_id,
                    name=name,
                    role=role,
                    created_at=self.clock.now_ms(),
                )
            )
            if role == "carer":
                await feeds.create_feed(conn, tenant_id, user_id)
        return user_id

    async def create_client(self, tenant_id: str, branch_id: str, name: str, address: str = "") -> str:
        _require_text(name, "name")
        client_id = new_id()
        async with self.db.write() as conn:
            await _require_branch(conn, tenant_id, branch_id)
            await conn.execute(
                insert(clients).values(
                    id=client_id,
                    tenant_id=tenant_id,
                    branch_id=branch_id,
                    name=name,
                    address=address,
                )
            )
        return client_id

    async def issue_staff_token(self, tenant_id: str, user_id: str) -> str:
        async with self.db.write() as conn:
            row = (
                await conn.execute(select(users).where(users.c.id == user_id, users.c.tenant_id == tenant_id))
            ).first()
            if row is None or row.role not in ("admin", "coordinator"):
                raise NotFound(f"office user {user_id} not found")
            return await _issue_staff_token(conn, tenant_id, user_id, self.clock.now_ms())


async def _issue_staff_token(conn: AsyncConnection, tenant_id: str, user_id: str, now: int) -> str:
    token = new_token("cst")
    await conn.execute(
        insert(credentials).values(
            id=new_id(),
            tenant_id=tenant_id,
            kind="staff",
            token_hash=hash_token(token),
            user_id=user_id,
            created_at=now,
        )
    )
    return token


async def _require_branch(conn: AsyncConnection, tenant_id: str, branch_id: str) -> None:
    found = (
        await conn.execute(select(branches.c.id).where(branches.c.id == branch_id, branches.c.tenant_id == tenant_id))
    ).first()
    if found is None:
        raise NotFound(f"branch {branch_id} not found")


def _require_text(value: str, field: str) -> None:
    if not value.strip() or len(value) > 200:
        raise InvalidInput(f"{field} must be 1 to 200 characters")
