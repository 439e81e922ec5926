"""Coordinators see and touch their branch only: no branch never means every branch, and
a carer of another branch can neither be assigned nor probed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from server.store.schema import users
from tests.security.conftest import PASSWORD, World


async def test_a_coordinator_without_a_branch_cannot_be_created(world: World) -> None:
    async with world.running.http(world.agency.admin_token) as http:
        refused = await http.post("/api/v1/users", json={"name": "Nobranch", "role": "coordinator"})
        assert refused.status_code == 422
        assert "branch" in refused.json()["error"]["message"]
        carer = await http.post("/api/v1/users", json={"name": "Floating carer", "role": "carer"})
        assert carer.status_code == 201


async def test_a_coordinator_who_lost_their_branch_sees_nothing(world: World) -> None:
    """A row left without a branch (older data, a manual edit) is refused, not widened."""
    node = world.running.node
    async with node.db.write() as conn:
        await conn.execute(update(users).where(users.c.id == world.coordinator_id).values(branch_id=None))
    async with world.running.http(world.coordinator_token) as http:
        for path in (
            "/api/v1/reports/devices",
            "/api/v1/alerts",
            f"/api/v1/visits/{world.b.visit_id}",
            "/api/v1/reports/visit-verification?from=2026-12-07&to=2026-12-07",
        ):
            answer = await http.get(path)
            assert answer.status_code == 403, path
        signed = await http.post("/api/v1/auth/sign-in", json={"login": world.coordinator_login, "password": PASSWORD})
        assert signed.status_code == 403
        assert "token" not in signed.json()


async def test_a_coordinator_cannot_assign_another_branchs_carer(world: World) -> None:
    start = datetime.now(UTC) + timedelta(hours=3)
    create = {
        "client_id": world.a.client_id,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(minutes=30)).isoformat(),
        "carer_ids": [world.b.carer_id],
    }
    async with world.running.http(world.coordinator_token) as http:
        foreign = await http.post("/api/v1/visits", json=create)
        unknown = await http.post("/api/v1/visits", json={**create, "carer_ids": ["no-such-carer"]})
        assert foreign.status_code == unknown.status_code == 422
        assert foreign.json()["error"]["message"].replace(world.b.carer_id, "X") == unknown.json()["error"][
            "message"
        ].replace("no-such-carer", "X")
        moved = await http.post(f"/api/v1/visits/{world.a.visit_id}/reassign", json={"carer_ids": [world.b.carer_id]})
        assert moved.status_code == 422
        other_tenant = await http.post(
            f"/api/v1/visits/{world.a.visit_id}/reassign", json={"carer_ids": [world.other.carer_id]}
        )
        assert other_tenant.status_code == 422
        # Their own branch's carer is fine.
        ok = await http.post(f"/api/v1/visits/{world.a.visit_id}/reassign", json={"carer_ids": [world.a.carer_id]})
        assert ok.status_code == 200


async def test_out_of_scope_carer_lookups_answer_as_missing(world: World) -> None:
    async with world.running.http(world.coordinator_token) as http:
        mine = await http.get(f"/api/v1/carers/{world.a.carer_id}/visits")
        assert mine.status_code == 200
        foreign = await http.get(f"/api/v1/carers/{world.b.carer_id}/visits")
        missing = await http.get("/api/v1/carers/no-such-carer/visits")
        assert foreign.status_code == missing.status_code == 404
        assert foreign.json()["error"]["code"] == missing.json()["error"]["code"]
