"""Time from a device's ack to the office console receiving the alert's resolution.

    python -m bench.ack_to_console [--alerts 30] [--flush 0.5 0.1]

One node (SQLite, in-process bus) served on loopback in this process; a console socket
follows the branch feed. For each carer with an open sync-mismatch alert, a device
connects, receives its change and acks it; the figure is ack sent -> ``alert_resolved``
received. Acks are written in batches every ``--flush`` seconds, which bounds it.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from sqlalchemy import update

from bench.support import percentile
from protocol.console import AlertResolved
from protocol.frames import Ack, Change
from server.embedded import start_server, stop_server
from server.node import Node
from server.seeding import seed_agency
from server.settings import Settings
from server.store.schema import tenants
from tests.support import RawConsole, RawDevice


async def run(alerts: int, flush_s: float, workdir: Path) -> list[float]:
    settings = Settings(
        database_url=f"sqlite:///{workdir / f'ack-{flush_s}.db'}", ack_flush_interval_s=flush_s, mismatch_interval_s=0
    )
    running = await start_server(Node.build(settings))
    try:
        agency = await seed_agency(running.node, carers=alerts, visits_per_carer=1)
        async with running.node.db.write() as conn:
            await conn.execute(update(tenants).values(mismatch_grace_s=0))
        report = await running.node.mismatch.run_once()
        assert report.raised == alerts, report
        console = await RawConsole.connect(running)
        await console.hello(agency.admin_token)
        await console.events_for(0.3)
        timings = []
        for carer in agency.carers:
            device = await RawDevice.connect(running)
            await device.hello(carer)
            change = await device.receive_until(Change)
            assert isinstance(change, Change)
            sent = time.perf_counter()
            await device.send(Ack(feed=change.feed, epoch=change.epoch, seq=change.seq))
            event = await console.next_event((AlertResolved,), timeout=10)
            timings.append((time.perf_counter() - sent) * 1000)
            assert event.event.alert.carer_id == carer.id  # type: ignore[union-attr]
            await device.close()
        await console.close()
        return timings
    finally:
        await stop_server(running)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=30)
    parser.add_argument("--flush", type=float, nargs="+", default=[0.5, 0.1])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        for flush_s in args.flush:
            timings = await run(args.alerts, flush_s, Path(workdir))
            print(
                f"ack flush every {flush_s:.2f} s: n={len(timings)} p50={percentile(timings, 50):.0f} ms "
                f"p99={percentile(timings, 99):.0f} ms max={max(timings):.0f} ms"
            )


if __name__ == "__main__":
    asyncio.run(main())
