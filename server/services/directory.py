"""Tenants, branches, users and clients: the people and places the rota refers to."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.clock import Clock
from server.ids import new_id
from server.services import feeds
from server.services.errors import InvalidInput, NotFound
from server.services.office_input import checked_text, checked_timezone
from server.services.staff_tokens import StaffTokens, insert_token
from server.store.database import Database
from server.store.schema import branches, clients, tenants, users
from server.tunables import INITIAL_ADMIN_TOKEN_TTL_S

ROLES = ("carer", "coordinator", "admin")
INITIAL_ADMIN_TOKEN_NAME = "initial admin token"


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
        checked_timezone(timezone)
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
            issued = await insert_token(
                conn, tenant_id, admin_id, INITIAL_ADMIN_TOKEN_NAME, now, INITIAL_ADMIN_TOKEN_TTL_S
            )
        return NewTenant(tenant_id=tenant_id, admin_id=admin_id, admin_token=issued.token)

    async def create_branch(self, tenant_id: str, name: str) -> str:
        _require_text(name, "name")
        branch_id = new_id()
        async with self.db.write() as conn:
            await _require_tenant(conn, tenant_id)
            await conn.execute(insert(branches).values(id=branch_id, tenant_id=tenant_id, name=name))
        return branch_id

    async def create_user(self, tenant_id: str, branch_id: str | None, name: str, role: str) -> str:
        """A user; a carer also gets an empty feed (epoch 1, head 0)."""
        _require_text(name, "name")
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
        if role == "coordinator" and branch_id is None:
            raise InvalidInput.about("branch_id", "is needed for a coordinator: coordinators see their branch only")
        user_id = new_id()
        async with self.db.write() as conn:
            await _require_tenant(conn, tenant_id)
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
        checked_text(address, "address", required=False)
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

    async def issue_staff_token(
        self, tenant_id: str, user_id: str, name: str = "API token", ttl_s: int | None = None
    ) -> str:
        """A named API token for an office user (see :class:`StaffTokens` for the rest)."""
        return (await StaffTokens(self.db, self.clock).issue(tenant_id, user_id, name, ttl_s)).token


async def _require_tenant(conn: AsyncConnection, tenant_id: str) -> None:
    """The REST API knows the tenant from the caller's token; the command line is told it."""
    if (await conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id))).first() is None:
        raise NotFound(f"tenant {tenant_id} not found")


async def _require_branch(conn: AsyncConnection, tenant_id: str, branch_id: str) -> None:
    found = (
        await conn.execute(select(branches.c.id).where(branches.c.id == branch_id, branches.c.tenant_id == tenant_id))
    ).first()
    if found is None:
        raise NotFound(f"branch {branch_id} not found")


def _require_text(value: str, field: str) -> None:
    checked_text(value, field)
