from __future__ import annotations

from server.node import Node
from server.seeding import seed_agency
from tests.support import acked_seq


async def test_acks_are_cumulative_and_flushed_in_batches(node: Node) -> None:
    agency = await seed_agency(node, carers=2, visits_per_carer=3)
    recorder = node.activity
    await recorder.stop()  # take over flushing from the background task
    flushes = recorder.flushes
    a, b = agency.carers
    for seq in (1, 3, 2):
        recorder.record(a.device_id, a.id, 1, seq)
    recorder.record(b.device_id, b.id, 1, 2)
    assert await acked_seq(node, a.device_id, a.id) is None, "nothing is written per ack"
    await recorder.flush()
    assert recorder.flushes == flushes + 1
    assert await acked_seq(node, a.device_id, a.id) == 3
    assert await acked_seq(node, b.device_id, b.id) == 2
    recorder.record(a.device_id, a.id, 1, 1)
    await recorder.flush()
    assert await acked_seq(node, a.device_id, a.id) == 3, "an older ack never lowers the position"
