"""How the office reaches a person: a phone number and optional notes per user (shown in
sync-mismatch alerts and on the carer's page)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.services.errors import InvalidInput, NotFound
from server.services.identity import Staff
from server.store.database import Database
from server.store.schema import users

_PHONE = re.compile(r"[0-9+()\- ]{0,40}")


@dataclass(frozen=True)
class Contact:
    phone: str
    notes: str


def checked_contact(phone: str, notes: str) -> Contact:
    phone, notes = phone.strip(), notes.strip()
    if not _PHONE.fullmatch(phone) or (phone and sum(c.isdigit() for c in phone) < 3):
        raise InvalidInput("A phone number is digits, spaces, +, -, ( and ), at most 40 characters.")
    if len(notes) > 200 or any(ord(c) < 32 for c in notes):
        raise InvalidInput("Contact notes are one line of at most 200 characters.")
    return Contact(phone=phone, notes=notes)


async def set_contact(db: Database, staff: Staff, user_id: str, contact: Contact) -> None:
    """Set a user's contact; a coordinator may set those of their branch's people."""
    async with db.write() as conn:
        row = (
            await conn.execute(
                select(users.c.branch_id).where(users.c.id == user_id, users.c.tenant_id == staff.tenant_id)
            )
        ).first()
        if row is None or not staff.may_see_branch(row.branch_id):
            raise NotFound("no such person in your branches")
        await conn.execute(
            update(users).where(users.c.id == user_id).values(phone=contact.phone, contact_notes=contact.notes)
        )


async def contacts_of(conn: AsyncConnection, tenant_id: str, user_ids: list[str]) -> dict[str, Contact]:
    """The contacts set for these users (users without one are left out)."""
    found: dict[str, Contact] = {}
    for start in range(0, len(user_ids), 500):
        rows = await conn.execute(
            select(users.c.id, users.c.phone, users.c.contact_notes).where(
                users.c.tenant_id == tenant_id, users.c.id.in_(user_ids[start : start + 500])
            )
        )
        found.update({r.id: Contact(r.phone, r.contact_notes) for r in rows if r.phone or r.contact_notes})
    return found
