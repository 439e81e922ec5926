"""The standard sync service on each store, without a socket: a device behind gets every
change after its position with the heads; an upload is stored once and a retry answered
``duplicate``; a position beyond the head resets the feed."""

from __future__ import annotations

from datetime import UTC, datetime

from protocol.frames import CheckIn, FeedPosition, SyncRequest
from server.node import Node
from server.seeding import seed_agency
from server.services import feeds
from server.services.identity import authenticate_device


async def test_a_device_behind_gets_what_it_missed_and_uploads_once(node: Node) -> None:
    agency = await seed_agency(node, carers=1, clients=1, visits_per_carer=2)
    carer = agency.carers[0]
    async with node.db.read() as conn:
        device = await authenticate_device(conn, carer.device_token)
        head = (await feeds.heads(conn, [carer.id]))[carer.id]
    behind = FeedPosition(feed=carer.id, epoch=head.epoch, seq=0)

    answer = await node.sync.standard_sync(device, SyncRequest(request_id="r1", positions=[behind]))
    assert [(c.feed, c.seq) for c in answer.changes] == [(carer.id, seq) for seq in range(1, head.seq + 1)]
    assert [(h.feed, h.epoch, h.seq) for h in answer.heads] == [(carer.id, head.epoch, head.seq)]
    assert not answer.more

    at_head = FeedPosition(feed=carer.id, epoch=head.epoch, seq=head.seq)
    check_in = CheckIn(mutation_id=1, carer_id=carer.id, visit_id=carer.visit_ids[0], captured_at=datetime.now(UTC))
    first = await node.sync.standard_sync(
        device, SyncRequest(request_id="r2", mutations=[check_in], positions=[at_head])
    )
    again = await node.sync.standard_sync(
        device, SyncRequest(request_id="r3", mutations=[check_in], positions=[at_head])
    )
    assert [r.status for r in first.results] == ["applied"]
    assert [(r.status, r.original_status, r.record_id) for r in again.results] == [
        ("duplicate", "applied", first.results[0].record_id)
    ]
    assert first.changes == [] and again.changes == []


async def test_a_position_beyond_the_head_resets_the_feed(node: Node) -> None:
    """A device ahead of the store (a restored database) is told to reset the feed and is
    replayed from seq 1 (docs/protocol.md §2, §4)."""
    agency = await seed_agency(node, carers=1, clients=1, visits_per_carer=2)
    carer = agency.carers[0]
    async with node.db.read() as conn:
        device = await authenticate_device(conn, carer.device_token)
        head = (await feeds.heads(conn, [carer.id]))[carer.id]
    ahead = FeedPosition(feed=carer.id, epoch=head.epoch, seq=head.seq + 5)
    answer = await node.sync.standard_sync(device, SyncRequest(request_id="r1", positions=[ahead]))
    assert answer.resets == [carer.id]
    assert [c.seq for c in answer.changes] == list(range(1, head.seq + 1))
