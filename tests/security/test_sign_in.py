"""Sign-in resists guessing: per-address and per-login limits, argon2id hashed in worker
threads, the same work for unknown logins, and logins that do not leak across agencies."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import select, update

from server.services import staff_auth
from server.services.throttle import SIGN_IN_FAILURES_PER_LOGIN, SIGN_IN_PER_ADDRESS
from server.store.schema import users
from tests.security.conftest import PASSWORD, World


def _address(n: int) -> dict[str, str]:
    """Requests come through the (trusted, loopback) proxy from client address ``n``."""
    return {"x-forwarded-for": f"198.51.100.{n}"}


async def test_wrong_passwords_for_one_login_are_limited(world: World) -> None:
    wrong = {"login": world.coordinator_login, "password": "not the password"}
    async with world.running.http() as http:
        for n in range(SIGN_IN_FAILURES_PER_LOGIN.limit):
            assert (await http.post("/api/v1/auth/sign-in", json=wrong, headers=_address(n))).status_code == 401
        # Even the right password is refused now, from any address, until the window passes.
        right = {"login": world.coordinator_login, "password": PASSWORD}
        refused = await http.post("/api/v1/auth/sign-in", json=right, headers=_address(200))
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 60
        assert "token" not in refused.json()


async def test_guesses_sent_at_once_are_limited_like_guesses_one_by_one(world: World) -> None:
    wrong = {"login": world.coordinator_login, "password": "not the password"}
    async with world.running.http() as http:
        answers = await asyncio.gather(
            *(http.post("/api/v1/auth/sign-in", json=wrong, headers=_address(n)) for n in range(20))
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(401) == SIGN_IN_FAILURES_PER_LOGIN.limit
    assert statuses.count(429) == 20 - SIGN_IN_FAILURES_PER_LOGIN.limit


async def test_attempts_from_one_address_are_limited(world: World) -> None:
    async with world.running.http() as http:
        for n in range(SIGN_IN_PER_ADDRESS.limit):
            answer = await http.post("/api/v1/auth/sign-in", json={"login": f"guess{n}@x", "password": "p" * 10})
            assert answer.status_code == 401
        refused = await http.post("/api/v1/auth/sign-in", json={"login": "another@x", "password": "p" * 10})
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60


async def test_an_ipv6_network_counts_as_one_address(world: World) -> None:
    """Rotating through the 2**64 addresses of one IPv6 /64 does not escape the limit."""
    async with world.running.http() as http:
        for n in range(SIGN_IN_PER_ADDRESS.limit):
            headers = {"x-forwarded-for": f"2001:db8:1:2::{n + 1:x}"}
            body = {"login": f"guess{n}@x", "password": "p" * 10}
            assert (await http.post("/api/v1/auth/sign-in", json=body, headers=headers)).status_code == 401
        same_net = {"x-forwarded-for": "2001:db8:1:2:ffff::1"}
        other_net = {"x-forwarded-for": "2001:db8:1:3::1"}
        body = {"login": "another@x", "password": "p" * 10}
        assert (await http.post("/api/v1/auth/sign-in", json=body, headers=same_net)).status_code == 429
        assert (await http.post("/api/v1/auth/sign-in", json=body, headers=other_net)).status_code == 401


async def test_the_console_sign_in_form_is_limited_too(world: World) -> None:
    async with world.running.http() as http:
        page = await http.get("/console/sign-in")
        csrf = page.cookies.get("caresync_csrf") or ""
        statuses = set()
        for _ in range(SIGN_IN_PER_ADDRESS.limit + 1):
            answer = await http.post(
                "/console/sign-in",
                data={"login": "guess@x", "password": "p" * 10, "csrf_token": csrf},
            )
            statuses.add(answer.status_code)
        assert 429 in statuses
        assert answer.headers.get("retry-after")


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The threads password verifications ran on."""
    calls: list[str] = []
    real: Callable[[str, str], bool] = staff_auth.verify_password
    real_decoy: Callable[[str], bool] = staff_auth.verify_decoy

    def counting(password: str, stored: str) -> bool:
        calls.append(threading.current_thread().name)
        return real(password, stored)

    def counting_decoy(password: str) -> bool:
        calls.append(threading.current_thread().name)
        return real_decoy(password)

    monkeypatch.setattr(staff_auth, "verify_password", counting)
    monkeypatch.setattr(staff_auth, "verify_decoy", counting_decoy)
    return calls


async def test_unknown_logins_cost_the_same_hash_off_the_event_loop(world: World, hash_calls: list[str]) -> None:
    loop_thread = threading.current_thread().name
    async with world.running.http() as http:
        known = await http.post(
            "/api/v1/auth/sign-in", json={"login": world.coordinator_login, "password": "wrong one!"}
        )
        after_known = len(hash_calls)
        unknown = await http.post("/api/v1/auth/sign-in", json={"login": "nobody@x.test", "password": "wrong one!"})
    assert known.status_code == unknown.status_code == 401
    assert known.json() == unknown.json()
    assert after_known == 1 and len(hash_calls) == 2
    assert loop_thread not in hash_calls


async def test_passwords_are_argon2id_and_old_scrypt_hashes_are_upgraded(world: World) -> None:
    node = world.running.node
    async with node.db.read() as conn:
        stored = (await conn.execute(select(users.c.password_hash).where(users.c.id == world.coordinator_id))).scalar()
    assert stored is not None and stored.startswith("$argon2id$")
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    legacy = f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    async with node.db.write() as conn:
        await conn.execute(update(users).where(users.c.id == world.coordinator_id).values(password_hash=legacy))
    async with world.running.http() as http:
        signed = await http.post("/api/v1/auth/sign-in", json={"login": world.coordinator_login, "password": PASSWORD})
    assert signed.status_code == 200
    async with node.db.read() as conn:
        query = select(users.c.password_hash).where(users.c.id == world.coordinator_id)
        upgraded = (await conn.execute(query)).scalar()
    assert upgraded is not None and upgraded.startswith("$argon2id$")


async def test_logins_do_not_leak_across_agencies(world: World) -> None:
    """Another agency's admin can give their user the same login: nothing says it exists."""
    other = world.other_agency
    node = world.running.node
    twin = await node.directory.create_user(other.tenant_id, other.branch_id, "Twin", "coordinator")
    async with world.running.http(other.admin_token) as http:
        answer = await http.put(
            f"/api/v1/users/{twin}/password", json={"login": world.coordinator_login, "password": "twin's passphrase"}
        )
        assert answer.status_code == 200
    async with world.running.http() as http:
        mine = await http.post("/api/v1/auth/sign-in", json={"login": world.coordinator_login, "password": PASSWORD})
        theirs = await http.post(
            "/api/v1/auth/sign-in", json={"login": world.coordinator_login, "password": "twin's passphrase"}
        )
        assert mine.json()["user"]["id"] == world.coordinator_id
        assert theirs.json()["user"]["id"] == twin
        chosen = await http.post(
            "/api/v1/auth/sign-in",
            json={"login": world.coordinator_login, "password": PASSWORD, "tenant_id": other.tenant_id},
        )
        assert chosen.status_code == 401
    # Within one agency a login stays unique.
    async with world.running.http(world.agency.admin_token) as http:
        clash = await node.directory.create_user(world.agency.tenant_id, world.agency.branch_id, "Clash", "coordinator")
        taken = await http.put(
            f"/api/v1/users/{clash}/password", json={"login": world.coordinator_login, "password": "p" * 12}
        )
        assert taken.status_code == 422
