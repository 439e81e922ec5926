"""The one read of which ids are carers of a tenant, with their branch (both stores)."""

from __future__ import annotations

from server.node import Node
from server.seeding import seed_agency
from server.services.carer_lookup import carer_branches_steps
from server.store.hot.steps import run_on_sqlalchemy


async def test_only_the_tenants_carers_are_found_with_their_branch(node: Node) -> None:
    agency = await seed_agency(node, carers=2, clients=1, visits_per_carer=0)
    other = await seed_agency(node, name="Other Agency", carers=1, clients=1, visits_per_carer=0)
    carers = [c.id for c in agency.carers]
    asked = [*carers, other.carers[0].id, agency.admin.user_id, "no-such-user"]
    async with node.db.read() as conn:
        found = await run_on_sqlalchemy(conn, carer_branches_steps(agency.tenant_id, asked))
        nobody = await run_on_sqlalchemy(conn, carer_branches_steps(agency.tenant_id, []))
    assert found == {carer: agency.branch_id for carer in carers}
    assert nobody == {}
