"""An open ``/ws/console`` socket follows its token: sign-out, revocation, a password
change and expiry close it with 4106, and a password change revokes every token."""

from __future__ import annotations

from protocol.errors import CloseCode, should_reconnect
from server.clock import ManualClock
from tests.conftest import RunningServer
from tests.security.conftest import PASSWORD, World, build_world
from tests.support import RawConsole


async def _signed_in(world: World) -> str:
    async with world.running.http() as http:
        answer = await http.post("/api/v1/auth/sign-in", json={"login": world.coordinator_login, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


async def _console(running: RunningServer, token: str) -> RawConsole:
    console = await RawConsole.connect(running)
    await console.hello(token)
    return console


async def test_sign_out_closes_the_open_socket(world: World) -> None:
    token = await _signed_in(world)
    console = await _console(world.running, token)
    async with world.running.http(token) as http:
        assert (await http.post("/api/v1/auth/sign-out")).status_code == 200
    assert await console.close_code() == CloseCode.SESSION_ENDED
    assert not should_reconnect(CloseCode.SESSION_ENDED)


async def test_password_reset_revokes_every_token_and_closes_the_sockets(world: World) -> None:
    signed = [await _signed_in(world), await _signed_in(world), world.coordinator_token]
    consoles = [await _console(world.running, token) for token in signed]
    async with world.running.http(world.agency.admin_token) as http:
        reset = await http.put(
            f"/api/v1/users/{world.coordinator_id}/password",
            json={"login": world.coordinator_login, "password": "a brand new passphrase"},
        )
        assert reset.status_code == 200
    for console in consoles:
        assert await console.close_code() == CloseCode.SESSION_ENDED
    for token in signed:  # sign-ins and the API token alike
        async with world.running.http(token) as http:
            assert (await http.get("/api/v1/alerts")).status_code == 401


async def test_revoking_an_api_token_closes_its_socket(world: World) -> None:
    async with world.running.http(world.agency.admin_token) as http:
        listed = (await http.get(f"/api/v1/users/{world.coordinator_id}/tokens")).json()["tokens"]
        console = await _console(world.running, world.coordinator_token)
        (only,) = listed
        revoked = await http.delete(f"/api/v1/users/{world.coordinator_id}/tokens/{only['id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert await console.close_code() == CloseCode.SESSION_ENDED


async def test_expiry_is_checked_on_an_open_socket(clocked: RunningServer) -> None:
    world = await build_world(clocked)
    token = await _signed_in(world)
    console = await _console(clocked, token)
    clock = clocked.node.clock
    assert isinstance(clock, ManualClock)
    clock.advance(13 * 3600)  # past the 12-hour sign-in
    assert await console.close_code() == CloseCode.SESSION_ENDED
