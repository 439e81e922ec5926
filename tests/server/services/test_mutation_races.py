"""Uploads on PostgreSQL: an upload retried on another node while the first is still
running answers ``duplicate`` (not a unique-key error), and ids longer than the store's
columns are rejected like any unknown id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from protocol.frames import CheckIn, SyncRequest
from server.node import Node
from server.seeding import SeededAgency, seed_agency
from server.services.identity import DeviceIdentity, authenticate_device
from server.store.schema import device_mutations
from tests.conftest import test_settings as settings_for
from tests.support import eventually


@pytest.fixture
async def pg_node(tmp_path: Path, postgres_url: str) -> AsyncIterator[Node]:
    node = Node.build(settings_for(tmp_path, database_url=postgres_url))
    await node.start()
    yield node
    await node.stop()


async def _device(node: Node, agency: SeededAgency) -> DeviceIdentity:
    async with node.db.read() as conn:
        return await authenticate_device(conn, agency.carers[0].device_token)


async def _waiting_on_a_lock(node: Node) -> bool:
    async with node.db.engine.connect() as conn:
        waiting = await conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return bool(waiting.scalar_one())


async def test_an_upload_racing_the_same_upload_on_another_node_answers_duplicate(pg_node: Node) -> None:
    agency = await seed_agency(pg_node, carers=1)
    carer = agency.carers[0]
    device = await _device(pg_node, agency)
    check_in = CheckIn(mutation_id=7, carer_id=carer.id, visit_id=carer.visit_ids[0], captured_at=datetime.now(UTC))
    async with pg_node.db.engine.connect() as other_node:
        transaction = await other_node.begin()
        await other_node.execute(
            insert(device_mutations).values(
                device_id=device.device_id,
                mutation_id=7,
                kind="check_in",
                carer_id=carer.id,
                visit_id=carer.visit_ids[0],
                received_at=1,
                status="applied",
                reason=None,
                record_id="record-of-the-other-node",
                payload="{}",
            )
        )
        upload = asyncio.create_task(
            pg_node.sync.standard_sync(device, SyncRequest(request_id="retry", mutations=[check_in]))
        )
        await eventually(lambda: _waiting_on_a_lock(pg_node))
        await transaction.commit()
    response = await upload
    (result,) = response.results
    assert (result.status, result.original_status, result.record_id) == (
        "duplicate",
        "applied",
        "record-of-the-other-node",
    )


async def test_ids_longer_than_the_store_holds_are_rejected_not_crashed_on(pg_node: Node) -> None:
    agency = await seed_agency(pg_node, carers=1)
    device = await _device(pg_node, agency)
    long_id = "x" * 64
    check_in = CheckIn(mutation_id=1, carer_id=long_id, visit_id=long_id, captured_at=datetime.now(UTC))
    response = await pg_node.sync.standard_sync(device, SyncRequest(request_id="long", mutations=[check_in]))
    (result,) = response.results
    assert (result.status, result.reason) == ("rejected", "carer_not_on_device")
