from __future__ import annotations

import asyncio

from server.node import Node
from server.seeding import SeededCarer, seed_agency
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


async def _an_ack_being_written(node: Node) -> tuple[SeededCarer, asyncio.Task[None]]:
    """An ack recorded and a flush (the background one, say) that has taken it and is writing it."""
    agency = await seed_agency(node, carers=1, visits_per_carer=2)
    await node.activity.stop()  # flushes by hand from here
    carer = agency.carers[0]
    node.activity.record(carer.device_id, carer.id, 1, 2)
    writing = asyncio.create_task(node.activity.flush())
    await asyncio.sleep(0)
    return carer, writing


async def test_a_flush_returns_only_once_a_flush_already_writing_has_committed(node: Node) -> None:
    carer, writing = await _an_ack_being_written(node)
    await node.activity.flush()  # a caller that needs everything recorded so far written
    assert writing.done(), "flush returned while an earlier flush was still writing"
    assert await acked_seq(node, carer.device_id, carer.id) == 2


async def test_stopping_waits_for_a_flush_in_progress_and_loses_nothing(node: Node) -> None:
    carer, writing = await _an_ack_being_written(node)
    await node.activity.stop()  # the node shutting down while the ack is being written
    assert writing.done() and not writing.cancelled() and writing.exception() is None
    assert await acked_seq(node, carer.device_id, carer.id) == 2
