from __future__ import annotations

import asyncio

from server.cluster.leases import ClusterJob, try_acquire
from server.node import Node


async def test_one_holder_at_a_time_until_expiry(node: Node) -> None:
    now = node.clock.now_ms()
    results = await asyncio.gather(*(try_acquire(node.db, "job:x", f"node-{i}", 1000, now) for i in range(6)))
    assert sum(results) == 1
    holder = f"node-{results.index(True)}"
    assert await try_acquire(node.db, "job:x", holder, 1000, now + 500), "the holder renews"
    assert not await try_acquire(node.db, "job:x", "intruder", 1000, now + 900)
    assert await try_acquire(node.db, "job:x", "intruder", 1000, now + 2000), "an expired lease can be taken"
    assert not await try_acquire(node.db, "job:x", holder, 1000, now + 2100)


async def test_cluster_job_runs_only_on_the_lease_holder(node: Node) -> None:
    ran: list[str] = []

    def job(name: str) -> ClusterJob:
        async def work() -> None:
            ran.append(name)

        return ClusterJob("demo", 10.0, work, node.db, node.clock, name)

    first, second = job("a"), job("b")
    for _ in range(3):
        await asyncio.gather(first.step(), second.step())
    assert ran in (["a"] * 3, ["b"] * 3)
    assert first.runs + second.runs == 3
