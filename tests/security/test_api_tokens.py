"""Staff API tokens have a name, an optional expiry and a last-used time, and can be
listed and revoked by an admin (and by their owner)."""

from __future__ import annotations

from datetime import datetime

from server.clock import ManualClock
from tests.conftest import RunningServer
from tests.security.conftest import PASSWORD, World, build_world


async def test_tokens_are_named_listed_and_revoked(world: World) -> None:
    user = world.coordinator_id
    async with world.running.http(world.agency.admin_token) as admin:
        made = await admin.post(f"/api/v1/users/{user}/tokens", json={"name": "rota import", "ttl_s": 3600})
        assert made.status_code == 201
        issued = made.json()
        assert issued["name"] == "rota import" and issued["expires_at"] is not None
        async with world.running.http(issued["token"]) as coordinator:
            assert (await coordinator.get("/api/v1/alerts")).status_code == 200
            # The owner sees their own tokens (never their values); not another user's.
            own = (await coordinator.get(f"/api/v1/users/{user}/tokens")).json()["tokens"]
            assert {t["name"] for t in own} == {"API token", "rota import"}
            assert all("token" not in t for t in own)
            used = next(t for t in own if t["name"] == "rota import")
            assert used["last_used_at"] is not None
            admin_id = world.agency.admin.user_id
            assert (await coordinator.get(f"/api/v1/users/{admin_id}/tokens")).status_code == 403
            # Only an admin issues tokens: a stolen password cannot mint a lasting one.
            minted = await coordinator.post(f"/api/v1/users/{user}/tokens", json={"name": "mine"})
            assert minted.status_code == 403
        revoked = await admin.delete(f"/api/v1/users/{user}/tokens/{issued['id']}")
        assert revoked.status_code == 200
        async with world.running.http(issued["token"]) as coordinator:
            assert (await coordinator.get("/api/v1/alerts")).status_code == 401
        remaining = (await admin.get(f"/api/v1/users/{user}/tokens")).json()["tokens"]
        assert [t["name"] for t in remaining] == ["API token"]
        everything = (await admin.get(f"/api/v1/users/{user}/tokens", params={"all": "true"})).json()["tokens"]
        assert len(everything) == 2
        # Another agency's admin cannot see or revoke them.
        async with world.running.http(world.other_agency.admin_token) as stranger:
            assert (await stranger.get(f"/api/v1/users/{user}/tokens")).status_code == 404
            gone = await stranger.delete(f"/api/v1/users/{user}/tokens/{remaining[0]['id']}")
            assert gone.status_code == 404


async def test_bad_token_requests_are_refused(world: World) -> None:
    async with world.running.http(world.agency.admin_token) as admin:
        for body in ({"name": ""}, {"name": "x" * 101}, {"name": "n", "ttl_s": 5}):
            answer = await admin.post(f"/api/v1/users/{world.coordinator_id}/tokens", json=body)
            assert answer.status_code == 422, body


async def test_api_tokens_and_the_initial_admin_token_expire(clocked: RunningServer) -> None:
    world = await build_world(clocked)
    async with clocked.http(world.agency.admin_token) as admin:
        made = await admin.post(f"/api/v1/users/{world.coordinator_id}/tokens", json={"name": "short", "ttl_s": 60})
        token = made.json()["token"]
        listed = (await admin.get(f"/api/v1/users/{world.agency.admin.user_id}/tokens")).json()["tokens"]
        (initial,) = listed
        assert initial["name"] == "initial admin token"
        assert datetime.fromisoformat(initial["expires_at"]) > datetime.fromisoformat(initial["created_at"])
    clock = clocked.node.clock
    assert isinstance(clock, ManualClock)
    clock.advance(61)
    async with clocked.http(token) as expired:
        answer = await expired.get("/api/v1/alerts")
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "expired"
    clock.advance(31 * 24 * 3600)
    async with clocked.http(world.agency.admin_token) as admin:
        assert (await admin.get("/api/v1/alerts")).status_code == 401


async def test_console_sessions_record_their_last_use(world: World) -> None:
    async with world.running.http() as http:
        page = await http.get("/console/sign-in")
        form = {"login": world.coordinator_login, "password": PASSWORD, "csrf_token": page.cookies["caresync_csrf"]}
        assert (await http.post("/console/sign-in", data=form)).status_code == 303
        assert (await http.get("/console/notifications")).status_code == 200
    async with world.running.http(world.coordinator_token) as http:
        tokens = (await http.get(f"/api/v1/users/{world.coordinator_id}/tokens")).json()["tokens"]
    session = next(t for t in tokens if t["name"] == "sign-in")
    assert session["last_used_at"] is not None and session["expires_at"] is not None
