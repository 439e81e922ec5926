"""A device that reconnects to the node still holding its old socket keeps its pushes."""

from __future__ import annotations

from datetime import timedelta

from protocol.frames import Change, FeedPosition
from server.clock import to_datetime
from server.seeding import seed_agency
from tests.conftest import RunningServer
from tests.support import RawDevice


async def test_pushes_reach_the_connection_that_replaced_the_old_one(quiet: RunningServer) -> None:
    node = quiet.node
    agency = await seed_agency(node, carers=1, visits_per_carer=2, day=to_datetime(node.clock.now_ms()))
    carer = agency.carers[0]
    old = await RawDevice.connect(quiet)
    (status,) = (await old.hello(carer)).feeds
    for _ in range(status.head):
        assert isinstance(await old.receive_until(Change), Change)
    new = await RawDevice.connect(quiet)  # the old socket is half-open: the node still holds it
    await new.hello(carer, [FeedPosition(feed=carer.id, epoch=1, seq=status.head)])
    start = to_datetime(node.clock.now_ms()) + timedelta(hours=3)
    await node.rota.reschedule(agency.admin, carer.visit_ids[0], start, start + timedelta(hours=1))
    # The node's own heads check does not run in this test (long interval): only a live push delivers.
    live = await new.receive_until(Change)
    assert isinstance(live, Change) and live.seq == status.head + 1
    await new.close()
