"""Anonymous sign-ins cost bounded memory: a login or password over its length is refused
before anything is keyed by it, and the rate-limit stores follow their settings."""

from __future__ import annotations

from pathlib import Path

from server.node import Node
from server.services.staff_auth import MAX_LOGIN_LENGTH, MAX_PASSWORD_LENGTH
from server.services.throttle import SIGN_IN_PER_ADDRESS, entry_bytes
from tests.conftest import test_settings as settings_for
from tests.security.conftest import PASSWORD, World

HUGE_LOGIN = "x" * 200_000


def _address(n: int) -> dict[str, str]:
    return {"x-forwarded-for": f"203.0.113.{n}"}


async def test_huge_logins_are_refused_before_they_become_keys(world: World) -> None:
    throttle = world.running.node.staff_auth.throttle
    async with world.running.http() as http:
        for n in range(40):
            body = {"login": f"{n}{HUGE_LOGIN}", "password": "p" * 10}
            answer = await http.post("/api/v1/auth/sign-in", json=body, headers=_address(n))
            assert answer.status_code == 413, answer.text  # from its Content-Length, unread
            assert answer.json()["error"]["code"] == "frame_too_large"
            assert answer.headers["connection"] == "close"
    assert len(throttle.by_login) == 0
    assert len(throttle.by_address) == 0


async def test_logins_over_their_length_are_refused_before_they_become_keys(world: World) -> None:
    throttle = world.running.node.staff_auth.throttle
    async with world.running.http() as http:
        for n in range(20):
            body = {"login": f"{n:03d}" + "x" * MAX_LOGIN_LENGTH, "password": "p" * 10}
            answer = await http.post("/api/v1/auth/sign-in", json=body, headers=_address(n))
            assert answer.status_code == 422, answer.text
            assert "login" in answer.json()["error"]["message"]
    assert len(throttle.by_login) == 0


async def test_the_longest_login_is_still_checked(world: World) -> None:
    async with world.running.http() as http:
        body = {"login": "y" * MAX_LOGIN_LENGTH, "password": "p" * 10}
        assert (await http.post("/api/v1/auth/sign-in", json=body)).status_code == 401
    assert len(world.running.node.staff_auth.throttle.by_login) == 1


async def test_huge_passwords_are_refused_unkeyed(world: World) -> None:
    throttle = world.running.node.staff_auth.throttle
    async with world.running.http() as http:
        body = {"login": world.coordinator_login, "password": "p" * (MAX_PASSWORD_LENGTH + 1)}
        answer = await http.post("/api/v1/auth/sign-in", json=body)
        assert answer.status_code == 422
        assert len(throttle.by_login) == 0
        right = await http.post("/api/v1/auth/sign-in", json={"login": world.coordinator_login, "password": PASSWORD})
        assert right.status_code == 200


async def test_refused_attempts_still_count_against_their_address(world: World) -> None:
    async with world.running.http() as http:
        for _ in range(SIGN_IN_PER_ADDRESS.limit):
            body = {"login": "x" * (MAX_LOGIN_LENGTH + 1), "password": "p" * 10}
            assert (await http.post("/api/v1/auth/sign-in", json=body, headers=_address(7))).status_code == 422
        limited = await http.post(
            "/api/v1/auth/sign-in", json={"login": "a@b", "password": "p" * 10}, headers=_address(7)
        )
        assert limited.status_code == 429


async def test_the_console_form_refuses_huge_logins_unkeyed(world: World) -> None:
    async with world.running.http() as http:
        page = await http.get("/console/sign-in")
        csrf = page.cookies.get("caresync_csrf") or ""
        answer = await http.post(
            "/console/sign-in", data={"login": HUGE_LOGIN, "password": "p" * 10, "csrf_token": csrf}
        )
        assert answer.status_code == 413
        assert HUGE_LOGIN not in answer.text
        long_login = "y" * (MAX_LOGIN_LENGTH + 1)
        answer = await http.post(
            "/console/sign-in", data={"login": long_login, "password": "p" * 10, "csrf_token": csrf}
        )
        assert answer.status_code == 422
        assert long_login not in answer.text
    assert len(world.running.node.staff_auth.throttle.by_login) == 0


def test_the_stores_follow_their_settings(tmp_path: Path) -> None:
    node = Node.build(settings_for(tmp_path, rate_limit_max_keys=100, rate_limit_max_bytes=1 << 30))
    assert node.staff_auth.throttle.by_address.capacity == 100
    assert node.enrolment_throttle.window.capacity == 100
    node = Node.build(settings_for(tmp_path, rate_limit_max_keys=10**6, rate_limit_max_bytes=1 << 20))
    by_login = node.staff_auth.throttle.by_login
    assert by_login.capacity == (1 << 20) // entry_bytes(by_login.limit)
