"""Console pages: only server-chosen notices, no caching of signed-in pages, and the
session cookie marked Secure whenever the console is reached over HTTPS."""

from __future__ import annotations

import httpx

from tests.security.conftest import PASSWORD, World

PHISHING = "Your account is locked. Call 0800 000 000 now."


async def _console_client(
    world: World, headers: dict[str, str] | None = None
) -> tuple[httpx.AsyncClient, httpx.Response]:
    http = world.running.http()
    page = await http.get("/console/sign-in")
    signed = await http.post(
        "/console/sign-in",
        data={"login": world.coordinator_login, "password": PASSWORD, "csrf_token": page.cookies["caresync_csrf"]},
        headers=headers or {},
    )
    assert signed.status_code == 303, signed.text
    return http, signed


async def test_only_server_chosen_notices_are_shown(world: World) -> None:
    async with world.running.http() as http:
        crafted = await http.get("/console/sign-in", params={"message": PHISHING})
        assert PHISHING not in crafted.text
        chosen = await http.get("/console/sign-in", params={"message": "signed-out"})
        assert "Signed out." in chosen.text
    http, _ = await _console_client(world)
    try:
        rota = await http.get("/console/rota", params={"branch_id": world.a.id, "message": PHISHING})
        assert rota.status_code == 200 and PHISHING not in rota.text
        rota = await http.get("/console/rota", params={"branch_id": world.a.id, "message": "cancelled"})
        assert "Visit cancelled" in rota.text
    finally:
        await http.aclose()


async def test_signed_in_pages_are_not_cached(world: World) -> None:
    http, _ = await _console_client(world)
    try:
        for path in (
            "/console/notifications",
            "/console/reports/devices",
            "/console/reports/devices.csv",
            "/console/reports/visit-verification",
            "/console/reports/visit-verification/download?from=2026-12-01&to=2026-12-07",
            f"/console/rota?branch_id={world.a.id}",
            f"/console/carers/{world.a.carer_id}",
            f"/console/carers/{world.b.carer_id}",  # an error page too
        ):
            answer = await http.get(path)
            assert answer.headers.get("cache-control") == "no-store", path
    finally:
        await http.aclose()


async def test_the_session_cookie_is_secure_over_https(world: World) -> None:
    """Behind a TLS-terminating proxy (trusted: loopback here) that sends X-Forwarded-Proto."""
    http, plain = await _console_client(world)
    await http.aclose()
    assert "secure" not in plain.headers["set-cookie"].lower()
    http, tls = await _console_client(world, {"x-forwarded-proto": "https"})
    await http.aclose()
    cookies = tls.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("caresync_session="))
    assert "; secure" in session.lower() and "httponly" in session.lower()
    assert all("; secure" in c.lower() for c in cookies)
