"""The contacts of the carers a console user may see, for alert cards (server and live)."""

from __future__ import annotations

from sqlalchemy import select

from server.services.contacts import Contact, contacts_of
from server.services.identity import Staff
from server.store.database import Database
from server.store.schema import users


async def visible_contacts(db: Database, staff: Staff) -> dict[str, Contact]:
    query = select(users.c.id).where(users.c.tenant_id == staff.tenant_id, users.c.role == "carer")
    if staff.role != "admin":
        query = query.where(users.c.branch_id == staff.branch_id)
    async with db.read() as conn:
        ids = [r.id for r in await conn.execute(query)]
        return await contacts_of(conn, staff.tenant_id, ids)
