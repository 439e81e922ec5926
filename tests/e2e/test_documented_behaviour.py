"""Behaviour docs/protocol.md states that no other test pins down."""

from __future__ import annotations

from server.seeding import seed_agency
from server.services.tenant_prefs import PREFERENCE_COLUMNS
from tests.conftest import RunningServer


async def test_get_tenant_preferences_shows_every_preference(running: RunningServer) -> None:
    agency = await seed_agency(running.node, carers=1)
    async with running.http(agency.admin_token) as http:
        response = await http.get("/api/v1/tenant/preferences")
    assert response.status_code == 200, response.text
    shown = response.json()
    assert set(shown) == set(PREFERENCE_COLUMNS)
    assert shown["stale_after_s"] == 86_400 and shown["clean_sync_days_ahead"] == 14
