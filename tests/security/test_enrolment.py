"""Enrolment codes die with the device's access, and guessing them is throttled."""

from __future__ import annotations

import uuid

import pytest

from server.services.throttle import ENROLMENT_PER_ADDRESS
from tests.security.conftest import World


@pytest.mark.parametrize("cut_off", ["revoke", "deactivate"])
async def test_a_code_issued_before_the_cut_off_is_void(world: World, cut_off: str) -> None:
    device = world.a.device_id
    async with world.running.http(world.agency.admin_token) as admin:
        code = (await admin.post(f"/api/v1/devices/{device}/enrolment-codes")).json()["code"]
        assert (await admin.post(f"/api/v1/devices/{device}/{cut_off}")).status_code == 200
    async with world.running.http() as app:
        enrol = await app.post(
            "/api/v1/device/enrol", json={"code": code, "uuid": str(uuid.uuid4()), "app_version": "1.0"}
        )
    assert enrol.status_code == 410, enrol.text
    assert "token" not in enrol.json()


async def test_enrolment_attempts_are_throttled_per_address(world: World) -> None:
    body = {"code": "AAAA-BBBB-CCCC", "uuid": str(uuid.uuid4()), "app_version": "1.0"}
    async with world.running.http() as app:
        for _ in range(ENROLMENT_PER_ADDRESS.limit):
            assert (await app.post("/api/v1/device/enrol", json=body)).status_code == 401
        refused = await app.post("/api/v1/device/enrol", json=body)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["code"] == "too_many_attempts"
        # Another client address (through a trusted proxy) is not affected.
        elsewhere = await app.post("/api/v1/device/enrol", json=body, headers={"x-forwarded-for": "203.0.113.9"})
        assert elsewhere.status_code == 401


async def test_successful_enrolments_do_not_count(world: World) -> None:
    """An office enrolling a whole team's phones from one address is not held up."""
    node = world.running.node
    tenant = world.agency.tenant_id
    codes = []
    for n in range(ENROLMENT_PER_ADDRESS.limit + 5):
        device = await node.devices.create_device(
            tenant, name=f"Phone {n}", carer_ids=[world.a.carer_id], issue_token=False
        )
        codes.append((await node.devices.issue_enrolment_code(tenant, device.device_id)).code)
    async with world.running.http() as app:
        for code in codes:
            body = {"code": code, "uuid": str(uuid.uuid4()), "app_version": "1.0"}
            assert (await app.post("/api/v1/device/enrol", json=body)).status_code == 201
