"""Retention of the upload ledger: rejected mutations go after their retention (applied
ones stay: they are the care records' idempotency), and so do past days' upload counts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from protocol.frames import CheckIn, SyncRequest
from server.clock import ManualClock, SystemClock
from server.node import Node
from server.seeding import seed_agency
from server.services.identity import authenticate_device
from server.services.retention import prune_upload_ledger
from server.store.schema import device_mutations, device_upload_usage
from tests.conftest import test_settings as settings_for


@pytest.fixture
async def clocked_node(tmp_path: Path, database_url: str) -> AsyncIterator[Node]:
    node = Node.build(
        settings_for(tmp_path, database_url=database_url, mismatch_interval_s=0),
        clock=ManualClock(SystemClock().now_ms()),
    )
    await node.start()
    yield node
    await node.stop()


async def test_rejected_mutations_and_past_counts_go_after_their_retention(clocked_node: Node) -> None:
    node = clocked_node
    clock = node.clock
    assert isinstance(clock, ManualClock)
    agency = await seed_agency(node, carers=1, visits_per_carer=1)
    carer = agency.carers[0]
    async with node.db.read() as conn:
        device = await authenticate_device(conn, carer.device_token)
    now = datetime.now(UTC)
    applied = CheckIn(mutation_id=1, carer_id=carer.id, visit_id=carer.visit_ids[0], captured_at=now)
    rejected = CheckIn(mutation_id=2, carer_id=carer.id, visit_id="no-such-visit", captured_at=now)
    await node.sync.standard_sync(device, SyncRequest(request_id="a", mutations=[applied, rejected]))
    retention_days = node.settings.rejected_mutation_retention_days

    clock.advance(retention_days * 86400 - 1)
    kept = await prune_upload_ledger(node.db, clock, retention_days)
    clock.advance(2)
    pruned = await prune_upload_ledger(node.db, clock, retention_days)

    assert (kept.rejected_mutations_removed, pruned.rejected_mutations_removed) == (0, 1)
    assert (kept.upload_counts_removed, pruned.upload_counts_removed) == (1, 0)
    async with node.db.read() as conn:
        left = (await conn.execute(select(device_mutations.c.mutation_id, device_mutations.c.status))).all()
        counts = (await conn.execute(select(device_upload_usage))).all()
    assert [tuple(row) for row in left] == [(1, "applied")]
    assert counts == []
    retried = await node.sync.standard_sync(device, SyncRequest(request_id="b", mutations=[rejected]))
    assert (retried.results[0].status, retried.results[0].reason) == ("rejected", "visit_not_found")
