"""Heartbeats and greetings at the head are answered from the node's memory."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event

from protocol import PROTOCOL_VERSION
from protocol.frames import Change, FeedPosition, Heartbeat, Hello, Welcome
from server.clock import to_datetime
from server.node import Node
from server.seeding import SeededCarer, seed_agency
from tests.conftest import RunningServer
from tests.support import RawDevice, eventually


@contextmanager
def statements(node: Node) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = node.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def reads_of(seen: list[str], table: str) -> list[str]:
    return [s for s in seen if s.lstrip().upper().startswith("SELECT") and f"FROM {table} " in s + " "]


async def test_heartbeats_and_a_resume_at_the_head_read_no_heads_and_no_changes(quiet: RunningServer) -> None:
    node = quiet.node
    agency = await seed_agency(node, carers=1, visits_per_carer=2, day=to_datetime(node.clock.now_ms()))
    carer = agency.carers[0]
    raw = await RawDevice.connect(quiet)
    (status,) = (await raw.hello(carer)).feeds
    for _ in range(status.head):
        assert isinstance(await raw.receive_until(Change), Change)

    with statements(node) as seen:
        await raw.send(Heartbeat())
        beat = await raw.receive_until(Heartbeat)
        assert isinstance(beat, Heartbeat) and beat.heads == [FeedPosition(feed=carer.id, epoch=1, seq=status.head)]
        start = to_datetime(node.clock.now_ms()) + timedelta(hours=3)
        await node.rota.reschedule(agency.admin, carer.visit_ids[0], start, start + timedelta(hours=1))
        live = await raw.receive_until(Change)
        assert isinstance(live, Change) and live.seq == status.head + 1
        await raw.send(Heartbeat())
        beat = await raw.receive_until(Heartbeat)
        assert isinstance(beat, Heartbeat) and beat.heads[0].seq == status.head + 1, "the push moved the cached head"
        assert reads_of(seen, "feeds") == [], "heartbeats read heads from memory"

    with statements(node) as seen:
        again = await RawDevice.connect(quiet)
        (resumed,) = (await again.hello(carer, [FeedPosition(feed=carer.id, epoch=1, seq=status.head + 1)])).feeds
        assert resumed.action == "resume"
        await again.send(Heartbeat())
        assert isinstance(await again.receive_until(Heartbeat), Heartbeat)
        assert reads_of(seen, "feeds") == [], "the node knew the head"
        assert reads_of(seen, "feed_entries") == [], "nothing to catch up at the head"
    await again.close()
    await raw.close()


async def test_a_change_committed_while_the_device_is_greeted_reaches_it_at_once(quiet: RunningServer) -> None:
    """The greeting follows the device's feeds before it knows their heads: a change
    committed just before the socket is registered is in the heads the welcome gives,
    so the device catches up at once, not at the next heartbeat (600 s away here)."""
    node = quiet.node
    agency = await seed_agency(node, carers=1, visits_per_carer=2, day=to_datetime(node.clock.now_ms()))
    carer = agency.carers[0]
    first = await RawDevice.connect(quiet)
    (status,) = (await first.hello(carer)).feeds
    for _ in range(status.head):
        assert isinstance(await first.receive_until(Change), Change)
    await first.close()
    await eventually(lambda: node.hub.session_count == 0)

    register = node.hub.register_device

    async def change_then_register(session: Any) -> None:
        start = to_datetime(node.clock.now_ms()) + timedelta(hours=5)
        await node.rota.reschedule(agency.admin, carer.visit_ids[1], start, start + timedelta(hours=1))
        await register(session)

    node.hub.register_device = change_then_register  # type: ignore[method-assign]
    try:
        again = await RawDevice.connect(quiet)
        welcome = await again.hello(carer, [FeedPosition(feed=carer.id, epoch=1, seq=status.head)])
    finally:
        node.hub.register_device = register  # type: ignore[method-assign]
    (resumed,) = welcome.feeds
    assert (resumed.head, resumed.action) == (status.head + 1, "catch_up")
    change = await again.receive_until(Change)
    assert isinstance(change, Change) and change.seq == status.head + 1
    await again.close()


async def test_a_change_pushed_before_the_welcome_is_queued_arrives_after_it(quiet: RunningServer) -> None:
    """Once registered the socket gets live pushes, but its welcome is not queued yet: the
    push is held and handed over after the welcome, so the first frame is the welcome."""
    node = quiet.node
    agency = await seed_agency(node, carers=1, visits_per_carer=2, day=to_datetime(node.clock.now_ms()))
    carer = agency.carers[0]
    register = node.hub.register_device

    async def register_then_change(session: Any) -> None:
        await register(session)
        start = to_datetime(node.clock.now_ms()) + timedelta(hours=5)
        await node.rota.reschedule(agency.admin, carer.visit_ids[1], start, start + timedelta(hours=1))

    node.hub.register_device = register_then_change  # type: ignore[method-assign]
    try:
        raw = await RawDevice.connect(quiet)
        hello = Hello(
            token=carer.device_token,
            device_uuid=carer.device_uuid,
            app_version="raw/1",
            protocol_version=PROTOCOL_VERSION,
            positions=[],
        )
        await raw.send(hello)
        welcome = await raw.receive()
    finally:
        node.hub.register_device = register  # type: ignore[method-assign]
    assert isinstance(welcome, Welcome), f"the first frame must be the welcome, not {type(welcome).__name__}"
    (status,) = welcome.feeds
    seqs = []
    while not seqs or seqs[-1] < status.head:
        change = await raw.receive_until(Change)
        assert isinstance(change, Change)
        seqs.append(change.seq)
    assert seqs == list(range(1, status.head + 1)), "every change once, in order"
    await raw.close()


async def test_a_change_pushed_while_a_device_replaces_its_socket_moves_the_cached_head(quiet: RunningServer) -> None:
    """A device replacing its own socket drops the cached heads of its feeds for a moment;
    a change pushed during that registration must still end up in the cache, so the next
    greeting answered from memory gives the newer head, not the one read before it."""
    node = quiet.node
    agency = await seed_agency(node, carers=1, visits_per_carer=2, day=to_datetime(node.clock.now_ms()))
    carer = agency.carers[0]
    old = await RawDevice.connect(quiet)
    (status,) = (await old.hello(carer)).feeds
    for _ in range(status.head):
        assert isinstance(await old.receive_until(Change), Change)
    at_head = [FeedPosition(feed=carer.id, epoch=1, seq=status.head)]

    register = node.hub.register_device

    async def register_then_change(session: Any) -> None:
        await register(session)
        start = to_datetime(node.clock.now_ms()) + timedelta(hours=5)
        await node.rota.reschedule(agency.admin, carer.visit_ids[1], start, start + timedelta(hours=1))
        await eventually(lambda: bool(session.streamer._held))  # the push is held for the welcome

    node.hub.register_device = register_then_change  # type: ignore[method-assign]
    try:
        replacing = await RawDevice.connect(quiet)
        await replacing.hello(carer, at_head)
    finally:
        node.hub.register_device = register  # type: ignore[method-assign]
    held = await replacing.receive_until(Change)
    assert isinstance(held, Change) and held.seq == status.head + 1

    device_uuid = str(uuid.uuid4())
    device = await node.devices.create_device(
        agency.tenant_id, uuid=device_uuid, name="spare phone", carer_ids=[carer.id], branch_id=agency.branch_id
    )
    assert device.token is not None
    spare = SeededCarer(carer.id, carer.name, device.device_id, device_uuid, device.token)
    other = await RawDevice.connect(quiet)
    (greeted,) = (await other.hello(spare, at_head)).feeds
    assert (greeted.head, greeted.action) == (status.head + 1, "catch_up"), "the cache kept the head read before"
    change = await other.receive_until(Change)
    assert isinstance(change, Change) and change.seq == status.head + 1
    await other.close()
    await replacing.close()
    await old.close()
