"""With Redis configured, sign-in and enrolment limits hold across the cluster: a client
spreading its attempts over two nodes (as a load balancer would) gets the documented
limit once, not once per node. Two served nodes share the real Redis and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from server.node import Node
from server.seeding import seed_agency
from server.services.throttle import ENROLMENT_PER_ADDRESS, SIGN_IN_FAILURES_PER_LOGIN, SIGN_IN_PER_ADDRESS
from tests import backing, conftest
from tests.conftest import RunningServer, start_server, stop_server

PASSWORD = "a long enough passphrase"
ADDRESS = "198.51.100.7"
"""The client, as the trusted proxy in front of both nodes reports it."""


@pytest.fixture
async def two_nodes(tmp_path: Path, postgres_url: str, redis_server_url: str) -> AsyncIterator[list[RunningServer]]:
    nodes = []
    for name in ("node-a", "node-b"):
        settings = conftest.test_settings(
            tmp_path, database_url=postgres_url, redis_url=redis_server_url, node_id=name, mismatch_interval_s=0
        )
        nodes.append(await start_server(Node.build(settings)))
    # The shared Redis outlives tests: start from no attempts for this test's client.
    for node in nodes[:1]:
        throttle = node.node.staff_auth.throttle
        assert throttle.shared_by_address is not None
        await throttle.shared_by_address.clear(ADDRESS)
        assert node.node.enrolment_throttle.shared_window is not None
        await node.node.enrolment_throttle.shared_window.clear(ADDRESS)
    yield nodes
    for node in nodes:
        await stop_server(node)


def _clients(nodes: list[RunningServer]) -> list[httpx.AsyncClient]:
    return [httpx.AsyncClient(base_url=n.base_url, headers={"x-forwarded-for": ADDRESS}, timeout=10) for n in nodes]


async def _office_login(node: Node) -> str:
    agency = await seed_agency(node, carers=1)
    login = f"office-{uuid.uuid4().hex[:8]}@agency.example"
    await node.staff_auth.set_password(agency.tenant_id, agency.admin.user_id, login, PASSWORD)
    return login


async def test_wrong_passwords_for_one_login_are_counted_across_nodes(two_nodes: list[RunningServer]) -> None:
    login = await _office_login(two_nodes[0].node)
    a, b = _clients(two_nodes)
    async with a, b:
        wrong = {"login": login, "password": "not the passphrase"}
        for attempt in range(SIGN_IN_FAILURES_PER_LOGIN.limit):
            answer = await (a if attempt % 2 else b).post("/api/v1/auth/sign-in", json=wrong)
            assert answer.status_code == 401, (attempt, answer.text)
        # Each node saw half the limit; the cluster saw all of it.
        for client in (a, b):
            refused = await client.post("/api/v1/auth/sign-in", json={"login": login, "password": PASSWORD})
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["code"] == "too_many_attempts"
            assert 1 <= int(refused.headers["retry-after"]) <= SIGN_IN_FAILURES_PER_LOGIN.window_s


async def test_a_correct_sign_in_clears_the_login_on_every_node(two_nodes: list[RunningServer]) -> None:
    login = await _office_login(two_nodes[0].node)
    a, b = _clients(two_nodes)
    async with a, b:
        wrong = {"login": login, "password": "not the passphrase"}
        for _ in range(SIGN_IN_FAILURES_PER_LOGIN.limit - 1):
            assert (await a.post("/api/v1/auth/sign-in", json=wrong)).status_code == 401
        assert (await b.post("/api/v1/auth/sign-in", json={"login": login, "password": PASSWORD})).status_code == 200
        for _ in range(SIGN_IN_FAILURES_PER_LOGIN.limit - 1):
            assert (await a.post("/api/v1/auth/sign-in", json=wrong)).status_code == 401


async def test_sign_ins_from_one_address_are_counted_across_nodes(two_nodes: list[RunningServer]) -> None:
    a, b = _clients(two_nodes)
    async with a, b:
        for attempt in range(SIGN_IN_PER_ADDRESS.limit):
            body = {"login": f"nobody-{attempt}@agency.example", "password": "whatever it is"}
            assert (await (a, b)[attempt % 2].post("/api/v1/auth/sign-in", json=body)).status_code == 401
        refused = await a.post("/api/v1/auth/sign-in", json={"login": "nobody@agency.example", "password": "x" * 12})
        assert refused.status_code == 429


async def test_failed_enrolments_are_counted_across_nodes_and_a_success_is_taken_back(
    two_nodes: list[RunningServer],
) -> None:
    node = two_nodes[0].node
    agency = await seed_agency(node, carers=1)
    device = await node.devices.create_device(
        agency.tenant_id, name="Spare phone", carer_ids=[agency.carers[0].id], issue_token=False
    )
    code = (await node.devices.issue_enrolment_code(agency.tenant_id, device.device_id)).code
    a, b = _clients(two_nodes)
    async with a, b:
        bad = {"code": "AAAA-BBBB-CCCC", "uuid": str(uuid.uuid4()), "app_version": "1.0"}
        for attempt in range(ENROLMENT_PER_ADDRESS.limit - 1):
            assert (await (a, b)[attempt % 2].post("/api/v1/device/enrol", json=bad)).status_code == 401
        good = {"code": code, "uuid": str(uuid.uuid4()), "app_version": "1.0"}
        assert (await b.post("/api/v1/device/enrol", json=good)).status_code == 201, "one attempt was left"
        assert (await a.post("/api/v1/device/enrol", json=bad)).status_code == 401, "the success was taken back"
        for client in (a, b):
            refused = await client.post("/api/v1/device/enrol", json=bad)
            assert refused.status_code == 429, refused.text


async def test_while_redis_does_not_answer_each_node_counts_alone(
    tmp_path: Path, throwaway_redis: backing.ThrowawayRedis
) -> None:
    """Sign-in keeps working, and limited, on the node's own counts; back to the cluster's
    once Redis answers again."""
    settings = conftest.test_settings(tmp_path, redis_url=throwaway_redis.url, mismatch_interval_s=0)
    running = await start_server(Node.build(settings))
    try:
        login = await _office_login(running.node)
        shared = running.node.shared_limits
        assert shared is not None
        throwaway_redis.stop()
        (client,) = _clients([running])
        async with client:
            wrong = {"login": login, "password": "not the passphrase"}
            for _ in range(SIGN_IN_FAILURES_PER_LOGIN.limit):
                assert (await client.post("/api/v1/auth/sign-in", json=wrong)).status_code == 401
            assert not shared.answering
            assert (await client.post("/api/v1/auth/sign-in", json=wrong)).status_code == 429
            throwaway_redis.start()
            other = await _office_login(running.node)
            assert (await client.post("/api/v1/auth/sign-in", json={"login": other, "password": PASSWORD})).is_success
            assert shared.answering
    finally:
        await stop_server(running)
