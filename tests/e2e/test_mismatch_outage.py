"""No false sync-mismatch alert from a node that stops under its devices.

A device that was connected and level when its node stopped (killed, or drained for a
deploy) and comes back within the grace period after the node is back gets no alert,
however long the node was down; one that does not come back, or was already behind when
the node stopped, is still reported. Every node here shares one ManualClock: time moves
when the test says, and detection passes run by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from client_sdk import Device
from client_sdk.backoff import Backoff
from server.clock import ManualClock, SystemClock, to_datetime
from server.cluster.presence import Presence
from server.node import Node
from server.periodic import Periodic
from server.seeding import SeededAgency, SeededCarer, seed_agency
from server.services.rota import NewTask
from server.serving import drain
from server.store.schema import device_connections, device_interruptions, mismatch_alerts
from tests.conftest import RunningServer, start_server, stop_server
from tests.conftest import test_settings as settings_for
from tests.support import acked_seq, eventually

GRACE_S = 120
STOPS = ["killed, restarted under its id", "killed, replaced by a new node", "drained for a deploy"]


class Outage:
    """One node at a time on one SQLite file, all on the same manual clock."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.clock = ManualClock(SystemClock().now_ms())
        self.running: RunningServer | None = None
        self.devices: list[Device] = []
        self.device_ids: set[str] = set()

    @property
    def node(self) -> Node:
        assert self.running is not None
        return self.running.node

    async def start(self, node_id: str) -> None:
        settings = settings_for(self.tmp_path, mismatch_interval_s=0, node_id=node_id)
        self.running = await start_server(Node.build(settings, clock=self.clock))

    async def stop(self, how: str) -> None:
        """Kill the node (nothing written on the way out) or drain it as a deploy does."""
        assert self.running is not None
        node = self.node

        async def held() -> bool:  # the connections this node holds are in the store
            async with node.db.read() as conn:
                rows = await conn.execute(select(device_connections.c.device_id))
                return {r.device_id for r in rows} == self.device_ids

        await eventually(held)
        if how.startswith("killed"):
            await Periodic.stop(node.presence)

            async def dies() -> None:
                return None

            node.presence.retire = dies  # type: ignore[method-assign]
            node.activity._pending.clear()  # acks in memory die with the process
        else:
            await drain(node, 0)
        for device in self.devices:
            await device.stop()
        self.devices.clear()
        self.device_ids.clear()
        await stop_server(self.running)
        self.running = None

    def device(self, carer: SeededCarer, *, ack: bool = True) -> Device:
        assert self.running is not None
        device = Device(
            self.running.ws_url,
            carer.device_token,
            carer.device_uuid,
            self.tmp_path / f"{carer.device_uuid}.db",
            ack=ack,
            backoff=Backoff(base_s=60, cap_s=60),  # reconnects only when the test says
        )
        self.devices.append(device)
        self.device_ids.add(carer.device_id)
        return device

    async def new_visit(self, agency: SeededAgency, carer: SeededCarer) -> str:
        start = to_datetime(self.clock.now_ms()) + timedelta(hours=5)
        view = await self.node.rota.create_visit(
            agency.admin,
            client_id=agency.client_ids[0],
            starts_at=start,
            ends_at=start + timedelta(minutes=45),
            carer_ids=[carer.id],
            tasks_=[NewTask("Medication")],
        )
        return view.id

    async def later(self, seconds: float) -> None:
        self.clock.advance(seconds)
        if self.running is not None:
            await self.node.presence.step()

    async def alerts(self) -> list[tuple[str, int, int]]:
        """Run a detection pass; every alert ever raised: (carer, first unacked, head)."""
        await self.node.activity.flush()
        await self.node.mismatch.run_once()
        async with self.node.db.read() as conn:
            rows = await conn.execute(select(mismatch_alerts).order_by(mismatch_alerts.c.raised_at))
            return [(r.carer_id, r.first_unacked_seq, r.head_seq) for r in rows]


@pytest.fixture
async def outage(tmp_path: Path) -> AsyncIterator[Outage]:
    running = Outage(tmp_path)
    yield running
    for device in running.devices:
        await device.stop()
    if running.running is not None:
        await stop_server(running.running)


async def _level_device_behind_by_its_lost_ack(outage: Outage) -> tuple[SeededAgency, SeededCarer]:
    """A device that received the carer's one change; its ack never reached the store
    (it was in flight, or in the node's memory, when the node stopped)."""
    await outage.start("node-a")
    agency = await seed_agency(outage.node, carers=1, visits_per_carer=0, day=to_datetime(outage.clock.now_ms()))
    carer = agency.carers[0]
    device = outage.device(carer, ack=False)
    await device.start()
    visit_id = await outage.new_visit(agency, carer)
    await eventually(lambda: device.store.visit(carer.id, visit_id) is not None)
    await outage.later(1)
    return agency, carer


async def _hello_acked(outage: Outage, carer: SeededCarer) -> None:
    """Until the position in the device's hello is stored as its ack of the first change."""

    async def acked() -> bool:
        await outage.node.activity.flush()
        return await acked_seq(outage.node, carer.device_id, carer.id) == 1

    await eventually(acked)


def _restart_id(how: str) -> str:
    return "node-b" if "new node" in how else "node-a"


@pytest.mark.parametrize("how", STOPS)
async def test_level_device_back_within_grace_of_the_restart_gets_no_alert(outage: Outage, how: str) -> None:
    agency, carer = await _level_device_behind_by_its_lost_ack(outage)
    await outage.stop(how)
    await outage.later(GRACE_S - 10)  # down for most of the grace
    await outage.start(_restart_id(how))
    await outage.later(30)  # the change is long past its grace; the node has been up 30 s
    assert await outage.alerts() == []

    back = outage.device(carer)
    await back.start()  # its hello proves the change it holds
    await _hello_acked(outage, carer)
    await outage.later(GRACE_S - 30)
    assert await outage.alerts() == []
    await outage.later(GRACE_S)
    assert await outage.alerts() == []
    assert back.positions()[carer.id].seq == 1 and agency.carers == [carer]


@pytest.mark.parametrize("how", STOPS)
async def test_device_that_does_not_come_back_is_reported_a_grace_after_the_restart(outage: Outage, how: str) -> None:
    _agency, carer = await _level_device_behind_by_its_lost_ack(outage)
    await outage.stop(how)
    await outage.later(GRACE_S - 10)
    await outage.start(_restart_id(how))
    await outage.later(GRACE_S - 1)
    assert await outage.alerts() == []
    await outage.later(2)
    assert await outage.alerts() == [(carer.id, 1, 1)]


async def test_device_already_behind_when_its_node_died_is_reported_on_time(outage: Outage) -> None:
    """Not level at the stop: the change was a minute old and unacked, so the outage does not
    move its grace."""
    _agency, carer = await _level_device_behind_by_its_lost_ack(outage)
    await outage.later(60)
    await outage.stop("killed, restarted under its id")
    await outage.later(30)
    await outage.start("node-a")
    await outage.later(GRACE_S - 90)  # 121 s after the commit, 30 s after the restart
    assert await outage.alerts() == [(carer.id, 1, 1)]


async def test_device_back_after_a_restart_that_withholds_acks_is_reported(outage: Outage) -> None:
    agency, carer = await _level_device_behind_by_its_lost_ack(outage)
    await outage.stop("killed, restarted under its id")
    await outage.later(GRACE_S - 10)
    await outage.start("node-a")
    back = outage.device(carer, ack=False)
    await back.start()
    await _hello_acked(outage, carer)
    visit_id = await outage.new_visit(agency, carer)  # received, never acknowledged
    await eventually(lambda: back.store.visit(carer.id, visit_id) is not None)
    await outage.later(GRACE_S - 1)
    assert await outage.alerts() == []
    await outage.later(2)
    assert await outage.alerts() == [(carer.id, 2, 2)]


async def _cluster_stops_together(outage: Outage) -> tuple[SeededAgency, SeededCarer]:
    """node-a (serving the level device) and node-b drain together, as a compose down does:
    node-a retires first, while node-b, draining too, still looks alive."""
    agency, carer = await _level_device_behind_by_its_lost_ack(outage)
    node = outage.node
    peer = Presence(node.db, outage.clock, "node-b", 0.05, node.bus)
    await peer.register()
    peer.draining = lambda: True
    retire = node.presence.retire

    async def both_retire() -> None:
        await retire()
        outage.clock.advance(1)
        await peer.step()
        await peer.retire()

    node.presence.retire = both_retire  # type: ignore[method-assign]
    await outage.stop("drained for a deploy")
    return agency, carer


async def test_cluster_stopping_together_does_not_eat_the_grace_of_a_device_back_after_the_restart(
    outage: Outage,
) -> None:
    agency, carer = await _cluster_stops_together(outage)
    await outage.later(GRACE_S + 60)  # down for longer than the grace
    await outage.start("node-a")
    await outage.later(30)
    assert await outage.alerts() == []

    back = outage.device(carer)
    await back.start()
    await _hello_acked(outage, carer)
    await outage.later(GRACE_S)
    assert await outage.alerts() == []
    assert back.positions()[carer.id].seq == 1 and agency.carers == [carer]


async def test_cluster_stopping_together_reports_a_device_that_does_not_come_back_a_grace_after_the_restart(
    outage: Outage,
) -> None:
    _agency, carer = await _cluster_stops_together(outage)
    await outage.later(GRACE_S + 60)
    await outage.start("node-a")
    await outage.later(GRACE_S - 1)
    assert await outage.alerts() == []
    await outage.later(2)
    assert await outage.alerts() == [(carer.id, 1, 1)]


async def test_a_cut_left_unavailable_while_a_node_runs_is_reported_a_grace_after_that_node_started(
    outage: Outage,
) -> None:
    """A draining node that saw no other node alive commits its cut after a starting node
    filled the cuts nobody could take (PostgreSQL's isolation allows it): the running node
    still makes the device available from its start."""
    _agency, carer = await _level_device_behind_by_its_lost_ack(outage)
    await outage.stop("drained for a deploy")
    await outage.later(GRACE_S - 10)
    await outage.start("node-b")
    async with outage.node.db.write() as conn:  # the late commit
        await conn.execute(update(device_interruptions).values(available_at=None))
    await outage.later(GRACE_S - 1)
    assert await outage.alerts() == []
    await outage.later(2)
    assert await outage.alerts() == [(carer.id, 1, 1)]
