"""What per-request bookkeeping and acks cost on the sync and push paths.

    python -m bench.bookkeeping [--devices 100] [--syncs 20] [--acks 10000]

In-process node on SQLite. (1) Sync path: every device runs ``--syncs`` standard syncs
(nothing to upload or download, so the bookkeeping is most of the work), all devices at
once; caresync's batched bookkeeping is compared with the same syncs writing the
bookkeeping row at once after every request (the peer: one database write per call).
(2) Push path: ``--acks`` acks recorded as devices would send them, batched vs one
write per ack. Reports time per operation and how many write transactions were made.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from protocol.frames import FeedPosition, SyncRequest
from server.node import Node
from server.seeding import seed_agency
from server.services.identity import authenticate_device
from server.settings import Settings


async def sync_path(node: Node, devices: int, syncs: int, write_each: bool) -> tuple[float, int]:
    agency = await seed_agency(node, carers=devices, visits_per_carer=1, clients=5)
    async with node.db.read() as conn:
        identities = [await authenticate_device(conn, c.device_token) for c in agency.carers]
    flushes = node.activity.flushes

    async def device(i: int) -> None:
        identity = identities[i]
        position = [FeedPosition(feed=agency.carers[i].id, epoch=1, seq=1)]
        for n in range(syncs):
            await node.sync.standard_sync(identity, SyncRequest(request_id=f"{i}-{n}", positions=position))
            if write_each:
                await node.activity.flush()

    started = time.perf_counter()
    await asyncio.gather(*(device(i) for i in range(devices)))
    await node.activity.flush()
    elapsed = time.perf_counter() - started
    return elapsed / (devices * syncs) * 1e6, node.activity.flushes - flushes


async def push_path(node: Node, acks: int, write_each: bool) -> tuple[float, int]:
    agency = await seed_agency(node, carers=100, visits_per_carer=1, clients=5)
    flushes = node.activity.flushes
    started = time.perf_counter()
    for n in range(acks):
        carer = agency.carers[n % 100]
        node.activity.record(carer.device_id, carer.id, 1, 1)
        if write_each:
            await node.activity.flush()
        elif n % 100 == 99:
            await asyncio.sleep(0)  # let the event loop breathe as a socket reader would
    await node.activity.flush()
    elapsed = time.perf_counter() - started
    return elapsed / acks * 1e6, node.activity.flushes - flushes


async def fresh_node(workdir: Path, name: str) -> Node:
    node = Node.build(Settings(database_url=f"sqlite:///{workdir / name}.db", mismatch_interval_s=0))
    await node.start()
    return node


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--syncs", type=int, default=20)
    parser.add_argument("--acks", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        for label, write_each in (("batched (caresync)", False), ("write per call (peer)", True)):
            node = await fresh_node(Path(workdir), f"sync-{write_each}")
            per_sync_us, writes = await sync_path(node, args.devices, args.syncs, write_each)
            await node.stop()
            print(
                f"sync path, {label:22s}: {per_sync_us:7.0f} us per standard sync, "
                f"{writes} bookkeeping writes for {args.devices * args.syncs} syncs"
            )
        for label, write_each in (("batched (caresync)", False), ("write per ack (peer)", True)):
            node = await fresh_node(Path(workdir), f"acks-{write_each}")
            per_ack_us, writes = await push_path(node, args.acks, write_each)
            await node.stop()
            print(f"push path, {label:22s}: {per_ack_us:7.1f} us per ack, {writes} writes for {args.acks} acks")


if __name__ == "__main__":
    asyncio.run(main())
