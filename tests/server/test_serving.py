"""SIGTERM drains a `caresync serve` node: every socket gets 4000, nothing is lost."""

from __future__ import annotations

import asyncio
import re
import signal
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from loadtest.server_process import SpawnedServer
from protocol.errors import CloseCode
from protocol.frames import Ack, Change, CheckIn, SyncRequest, SyncResponse
from server.node import Node
from server.seeding import seed_agency
from server.settings import Settings
from server.store.schema import care_records
from tests.support import RawDevice, acked_seq

VISITS = 3


async def test_sigterm_closes_every_device_with_4000_and_loses_no_ack_or_recording(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'drain.db'}"
    seeder = Node.build(Settings(database_url=url))
    await seeder.db.migrate()
    agency = await seed_agency(seeder, carers=6, visits_per_carer=VISITS)
    # Acks stay in memory for 60 s unless the drain writes them: that is what is checked.
    server = SpawnedServer(
        url,
        tmp_path / "serve.log",
        extra_args=["--drain-window", "1", "--ack-flush-interval", "60", "--heartbeat", "60"],
        pin=False,
    )
    await server.start()
    devices: list[RawDevice] = []
    try:
        for carer in agency.carers:
            device = await RawDevice.connect(server)  # type: ignore[arg-type]
            devices.append(device)
            welcome = await device.hello(carer)
            epoch = welcome.feeds[0].epoch
            seq = 0
            while seq < VISITS:
                frame = await device.receive()
                if isinstance(frame, Change):
                    seq = frame.seq
            await device.send(Ack(feed=carer.id, epoch=epoch, seq=seq))

        first = agency.carers[0]
        recording = CheckIn(
            mutation_id=1, carer_id=first.id, visit_id=first.visit_ids[0], captured_at=datetime.now(UTC)
        )
        await devices[0].send(SyncRequest(request_id="in-flight", mutations=[recording]))
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)

        answered = False
        async with asyncio.timeout(20):
            while True:
                try:
                    frame = await devices[0].receive(timeout=20)
                except Exception:
                    break
                answered = answered or (isinstance(frame, SyncResponse) and frame.request_id == "in-flight")
        assert answered, "the sync in progress was answered before the socket closed"
        for device in devices:
            assert await device.close_code(timeout=20) == CloseCode.SERVER_SHUTDOWN
            assert re.search(r"reconnect_after_ms=\d+", device.ws.close_reason or "")
        # uvicorn re-raises the signal once shut down, so a supervisor sees why it stopped.
        assert await asyncio.to_thread(server.process.wait, 30) in (0, -signal.SIGTERM)
        log = (tmp_path / "serve.log").read_text()
        assert "drained" in log
        assert 'configuration: {"database_url": "sqlite:///' in log  # the effective settings, logged at start

        for carer in agency.carers:
            assert await acked_seq(seeder, carer.device_id, carer.id) == VISITS
        async with seeder.db.read() as conn:
            count = select(func.count()).select_from(care_records).where(care_records.c.carer_id == first.id)
            assert (await conn.execute(count)).scalar_one() == 1
    finally:
        for device in devices:
            await device.close()
        server.stop()
        await seeder.db.close()
