"""Resetting a carer's feed (server/services/feed_reset.py) on each store: the new epoch
replays exactly the carer's current visits from seq 1, the old epoch is gone, acks of the
old epoch count for nothing, a phone not yet on the new epoch is behind (not in error),
and only an admin or a coordinator of the carer's branch can do it."""

from __future__ import annotations

import msgspec
import pytest
from sqlalchemy import select

from protocol.frames import Change, FeedPosition, VisitUpsert
from server.clock import to_datetime
from server.node import Node
from server.seeding import seed_agency
from server.services import feeds
from server.services.errors import NotFound
from server.services.feed_reset import FeedResetService
from server.services.identity import Staff
from server.services.mismatch import acks_view
from server.store.schema import feed_entries
from tests.support import server_visits

_change = msgspec.json.Decoder(Change)


def _service(node: Node) -> FeedResetService:
    return FeedResetService(node.db, node.bus, node.clock)


async def test_the_new_epoch_replays_the_current_visits_from_seq_1(node: Node) -> None:
    agency = await seed_agency(node, carers=2, visits_per_carer=3, day=to_datetime(node.clock.now_ms()))
    carer, other = agency.carers
    await node.rota.reassign(agency.admin, carer.visit_ids[0], [other.id])  # a visit_removed in the old epoch
    await node.rota.cancel(agency.admin, carer.visit_ids[1])
    node.activity.record_position(
        carer.device_id, FeedPosition(feed=carer.id, epoch=1, seq=5), FeedPosition(feed=carer.id, epoch=1, seq=5)
    )
    await node.activity.flush()

    done = await _service(node).reset(agency.admin, carer.id)

    current = await server_visits(node, agency.admin, carer.id)
    assert (done.epoch, done.head) == (2, len(current)) == (2, 2)
    async with node.db.read() as conn:
        head = (await feeds.heads(conn, [carer.id]))[carer.id]
        frames = await feeds.read_frames(conn, carer.id, 2, 0, 100)
        epochs = {
            r.epoch for r in await conn.execute(select(feed_entries.c.epoch).where(feed_entries.c.carer_id == carer.id))
        }
        acked = await acks_view.acked_positions(conn, [carer.id])
    assert head == feeds.Head(epoch=2, seq=2, compacted=0)
    changes = [_change.decode(frame) for _seq, frame in frames]
    assert [(c.epoch, c.seq) for c in changes] == [(2, 1), (2, 2)]
    assert [c.payload for c in changes] == [VisitUpsert(visit=v) for v in current]
    assert epochs == {2}, "the old epoch cannot be continued: its entries are gone"
    assert acked[carer.id] == (2, 2, 0), "an ack of the old epoch counts for nothing in the new one"

    # The next rota change continues the new epoch.
    await node.rota.update_notes_by_token(agency.admin_token, carer.visit_ids[2], "key under the mat")
    async with node.db.read() as conn:
        assert (await feeds.heads(conn, [carer.id]))[carer.id] == feeds.Head(epoch=2, seq=3, compacted=0)


async def test_a_carer_without_visits_gets_an_empty_new_epoch(node: Node) -> None:
    agency = await seed_agency(node, carers=2, visits_per_carer=1)
    carer, other = agency.carers
    await node.rota.reassign(agency.admin, carer.visit_ids[0], [other.id])

    done = await _service(node).reset(agency.admin, carer.id)

    assert (done.epoch, done.head) == (2, 0)
    async with node.db.read() as conn:
        assert (await feeds.heads(conn, [carer.id]))[carer.id] == feeds.Head(epoch=2, seq=0, compacted=0)


async def test_only_an_admin_or_a_coordinator_of_the_carers_branch_may_reset(node: Node) -> None:
    agency = await seed_agency(node, carers=1, visits_per_carer=1)
    carer = agency.carers[0]
    other_branch = await node.directory.create_branch(agency.tenant_id, "South")
    elsewhere = Staff("coordinator-south", agency.tenant_id, "coordinator", other_branch)
    stranger = await node.directory.create_tenant("Another agency")
    for actor in (elsewhere, Staff(stranger.admin_id, stranger.tenant_id, "admin", None)):
        with pytest.raises(NotFound):
            await _service(node).reset(actor, carer.id)
    with pytest.raises(NotFound):
        await _service(node).reset(agency.admin, agency.admin.user_id)  # not a carer
    coordinator = Staff("coordinator-north", agency.tenant_id, "coordinator", agency.branch_id)
    assert (await _service(node).reset(coordinator, carer.id)).epoch == 2
