"""The carers' acknowledgements: recorded once per change, never edited, refused whole when
they cannot be the device's, and shown in the visit's history."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from protocol.errors import ErrorCode, ProtocolError
from server.node import Node
from server.services.seen_history import visit_seen_history
from server.services.seen_ledger import SeenLedger
from server.store.schema import carer_seen
from tests.server.services.carer_seen import delivered, far_agency, head, identity, seen, visit_soon


async def _records(node: Node) -> list[tuple[str, int, int, int]]:
    async with node.db.read() as conn:
        rows = await conn.execute(select(carer_seen).order_by(carer_seen.c.seq))
        return [(r.device_id, r.seq, r.seen_at, r.recorded_at) for r in rows]


async def test_a_seen_sent_twice_is_recorded_once_with_its_first_time(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    visit = await visit_soon(node, agency)
    carer = agency.carers[0]
    seq = await head(node, carer.id)
    ledger = SeenLedger(node.db, node.clock, node.activity)
    answer = await ledger.record(identity(agency), seen(node, carer.id, [seq, seq]))
    assert (answer.request_id, answer.feed, answer.epoch, answer.seqs) == ("s1", carer.id, 1, [seq])
    first = await _records(node)
    assert [(device, s) for device, s, _at, _rec in first] == [(carer.device_id, seq)]
    node.clock.advance(30)  # type: ignore[attr-defined]
    again = await ledger.record(identity(agency), seen(node, carer.id, [seq], request_id="s2"))
    assert again.seqs == [seq] and again.request_id == "s2"
    assert await _records(node) == first, "the first record stands, unedited"
    async with node.db.read() as conn:
        history = await visit_seen_history(conn, agency.admin, visit.id)
    (change,) = history.changes
    assert change.carer_id == carer.id and change.needs_seen and change.seen is not None
    assert change.seen.device_id == carer.device_id and change.delivered


async def test_history_shows_delivered_and_not_seen(clocked_node: Node) -> None:
    node = clocked_node
    agency = await far_agency(node)
    visit = await visit_soon(node, agency)
    carer = agency.carers[0]
    async with node.db.read() as conn:
        (before,) = (await visit_seen_history(conn, agency.admin, visit.id)).changes
    assert (before.needs_seen, before.delivered, before.seen) == (True, False, None)
    await delivered(node, agency, await head(node, carer.id))
    async with node.db.read() as conn:
        (after,) = (await visit_seen_history(conn, agency.admin, visit.id)).changes
    assert (after.delivered, after.seen) == (True, None)


@pytest.mark.parametrize(
    ("feed", "epoch", "ahead", "code"),
    [
        ("someone-else", 1, 0, ErrorCode.UNKNOWN_FEED),
        (None, 2, 0, ErrorCode.STALE_EPOCH),
        (None, 1, 1, ErrorCode.POSITION_AHEAD),
    ],
)
async def test_a_seen_that_cannot_be_the_devices_records_nothing(
    clocked_node: Node, feed: str | None, epoch: int, ahead: int, code: ErrorCode
) -> None:
    node = clocked_node
    agency = await far_agency(node)
    await visit_soon(node, agency)
    carer = agency.carers[0]
    ledger = SeenLedger(node.db, node.clock, node.activity)
    frame = seen(node, feed or carer.id, [1, await head(node, carer.id) + ahead], epoch=epoch, request_id="r9")
    with pytest.raises(ProtocolError) as refused:
        await ledger.record(identity(agency), frame)
    assert (refused.value.code, refused.value.request_id) == (code, "r9")
    assert await _records(node) == []
