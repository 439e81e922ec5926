"""Page numbers in query strings are bounded: a huge one is a 422, never a 500."""

from __future__ import annotations

from server.seeding import seed_agency
from tests.conftest import RunningServer

HUGE = str(2**70)


async def test_huge_page_numbers_are_refused_with_a_clear_error(running: RunningServer) -> None:
    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    async with running.http(agency.admin_token) as http:
        for path in (
            f"/api/v1/branches/{agency.branch_id}/visits?page={HUGE}",
            f"/api/v1/carers/{carer.id}/visits?page={HUGE}",
            f"/api/v1/reports/devices?page={HUGE}",
            f"/api/v1/reports/devices?page_size={HUGE}",
        ):
            response = await http.get(path)
            assert response.status_code == 422, (path, response.text)
            assert "page" in response.json()["error"]["message"]
