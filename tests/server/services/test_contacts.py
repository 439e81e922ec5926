"""A person's contact: a phone number and notes, checked, scoped to the office user's branch."""

from __future__ import annotations

import pytest

from server.node import Node
from server.seeding import seed_agency
from server.services.contacts import Contact, checked_contact, contacts_of, set_contact
from server.services.errors import InvalidInput, NotFound
from server.services.identity import Staff


@pytest.mark.parametrize("phone", ["07700 900123", "+44 (0)7700-900123", ""])
def test_phone_numbers_people_write_are_taken(phone: str) -> None:
    assert checked_contact(f" {phone} ", " text first ") == Contact(phone, "text first")


@pytest.mark.parametrize("phone", ["call me", "0" * 41, "12", "<b>07700</b>"])
def test_anything_else_is_refused(phone: str) -> None:
    with pytest.raises(InvalidInput, match="phone number"):
        checked_contact(phone, "")


def test_notes_are_one_short_line() -> None:
    with pytest.raises(InvalidInput, match="one line"):
        checked_contact("07700 900123", "a\nb")
    with pytest.raises(InvalidInput, match="one line"):
        checked_contact("07700 900123", "x" * 201)


async def test_a_coordinator_sets_contacts_in_their_branch_only(node: Node) -> None:
    agency = await seed_agency(node, carers=1, visits_per_carer=0)
    carer = agency.carers[0]
    south = await node.directory.create_branch(agency.tenant_id, "South")
    sam = await node.directory.create_user(agency.tenant_id, south, "Sam", "carer")
    lead = Staff(user_id="lead", tenant_id=agency.tenant_id, role="coordinator", branch_id=agency.branch_id)
    await set_contact(node.db, lead, carer.id, Contact("07700 900123", "text first"))
    with pytest.raises(NotFound):
        await set_contact(node.db, lead, sam, Contact("07700 900999", ""))
    async with node.db.read() as conn:
        found = await contacts_of(conn, agency.tenant_id, [carer.id, sam])
    assert found == {carer.id: Contact("07700 900123", "text first")}
