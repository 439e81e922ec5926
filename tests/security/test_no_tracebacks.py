"""Client input, however malformed, gets a 4xx and never a traceback in the log; nor does
a client that hangs up halfway through sending a body."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.routing import Route

from server.app import create_app
from server.node import Node
from tests import conftest
from tests.security.conftest import World
from tests.support import eventually

BAD_BODIES = [
    b"\xff\xfe\x00",
    b'{"name": "caf\xe9", "login": "\xed\xa0\x80", "notes": "\xc3"}',
    b'{"unknown": "\xff", "name": "x"}',
    b"null",
    b"[]",
    b'"text"',
    b'{"name": 1, "role": [], "carer_ids": "x", "starts_at": "yesterday", "ttl_s": 1e999}',
    b'{"starts_at": "0001-01-01T00:00:00+00:00", "ends_at": "9999-12-31T23:59:59+00:00", "client_id": "x"}',
    b'{"name": "\\u0000", "title": "\\ud800", "notes": 12345678901234567890123456789}',
    b"[" * 100_000,
]
BAD_QUERIES = [
    {"page": "x", "page_size": "-1", "limit": "1e9", "from": "not a time"},
    {"page": "99999999999999999999", "page_size": "0", "stale": "maybe", "sort": "__class__", "order": "up"},
    {"from": "2026-13-45T99:99:99+00:00", "to": "+275760-09-13T00:00:00Z", "status": "\u0000", "severity": "x"},
]


def all_routes() -> list[tuple[str, str]]:
    app = create_app(Node.build(conftest.test_settings(Path("/nonexistent"))))
    found = []
    for route in app.routes:
        if isinstance(route, Route) and route.methods and not route.path.startswith(("/livez", "/readyz")):
            for method in sorted(route.methods - {"HEAD"}):
                found.append((method, route.path))
    return found


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record, uvicorn's own included (its loggers do not propagate to the root)."""
    caplog.set_level(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.addHandler(caplog.handler)
    yield caplog
    for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi"):
        logging.getLogger(name).removeHandler(caplog.handler)


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize(("method", "template"), all_routes())
async def test_malformed_input_is_answered_not_crashed_on(
    world: World, server_log: pytest.LogCaptureFixture, method: str, template: str
) -> None:
    ids = {"visit_id": world.a.visit_id, "task_id": world.a.task_id, "branch_id": world.a.id}
    ids |= {"carer_id": world.a.carer_id, "device_id": world.a.device_id, "user_id": world.coordinator_id}
    ids |= {"alert_id": "x" * 300, "token_id": "\u00e9", "action": "reschedule"}
    path = template
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    async with world.running.http(world.agency.admin_token) as http:
        for body in BAD_BODIES:
            answer = await http.request(method, path, content=body, headers={"content-type": "application/json"})
            assert answer.status_code < 500, (method, path, body[:40], answer.text[:200])
        for params in BAD_QUERIES:
            answer = await http.request(method, path, params=params)
            assert answer.status_code < 500, (method, path, params, answer.text[:200])
    assert _tracebacks(server_log) == []


async def test_a_device_upload_nested_too_deep_is_answered(world: World, server_log: pytest.LogCaptureFixture) -> None:
    carer = world.agency.carers[0]
    form = (
        '{"type": "sync_request", "request_id": "r1", "mutations": [{"kind": "form_submission", "mutation_id": 1, '
        f'"carer_id": "{carer.id}", "visit_id": "{carer.visit_ids[0]}", "captured_at": "2026-01-01T10:00:00+00:00", '
        '"form": "f", "data": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}]}"
    )
    async with world.running.http(carer.device_token) as http:
        answer = await http.post("/api/v1/device/sync", content=form.encode())
    assert 400 <= answer.status_code < 500
    assert _tracebacks(server_log) == []


async def test_a_client_hanging_up_mid_body_leaves_no_traceback(
    world: World, server_log: pytest.LogCaptureFixture
) -> None:
    """Every route that takes a body, each sent a third of the body it announced, with the
    credentials that get it as far as reading the body; sign-outs last, as they end them."""
    ids = {"visit_id": world.a.visit_id, "task_id": world.a.task_id, "carer_id": world.a.carer_id}
    ids |= {"device_id": world.a.device_id, "user_id": world.coordinator_id, "alert_id": "a1"}
    ids |= {"token_id": "t1", "action": "reschedule"}
    token, device_token = world.agency.admin_token, world.agency.carers[0].device_token
    routes = [(m, p) for m, p in all_routes() if m != "GET"]
    routes.sort(key=lambda route: route[1].endswith("sign-out"))
    server_state = world.running.server.server_state
    for method, template in routes:
        path = template
        for name, value in ids.items():
            path = path.replace("{" + name + "}", value)
        bearer = device_token if path.startswith("/api/v1/device/") else token
        kind = "application/x-www-form-urlencoded" if path.startswith("/console/") else "application/json"
        _, writer = await asyncio.open_connection("127.0.0.1", world.running.port)
        writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {bearer}\r\n"
            f"Cookie: caresync_session={token}\r\nContent-Type: {kind}\r\nContent-Length: 300\r\n\r\n".encode()
            + b"x" * 100
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        await eventually(lambda: not server_state.tasks)  # the request has run its course
    assert _tracebacks(server_log) == []
