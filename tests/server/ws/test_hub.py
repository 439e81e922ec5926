"""The hub greets every socket the same way: follow the feeds, then heads consistent with
that; what is committed meanwhile is held until the welcome and then handed over in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from protocol.frames import FeedPosition, Heartbeat
from server.bus import envelope
from server.bus.memory import MemoryBus
from server.clock import ManualClock
from server.cluster.presence import Presence
from server.services import feeds
from server.settings import Settings
from server.store.database import Database
from server.ws.feed_socket import FeedSocket
from server.ws.hub import Hub
from tests.server.ws.test_streamer import FakeSocket

SCOPE = "branch-1"
CHANNEL = feeds.CONSOLE.channel(SCOPE)
CHANGE_6 = b'{"type":"change","feed":"branch-1","epoch":1,"seq":6}'


class Greeted(FeedSocket):
    """A console-like socket of one feed, greeted by hand."""

    hello_type = Heartbeat

    def decode(self, text: str) -> Any:
        raise NotImplementedError

    async def greet(self, hello: Any) -> bool:
        raise NotImplementedError

    async def on_frame(self, frame: Any) -> None:
        raise NotImplementedError

    def on_closed(self) -> None:
        return None

    @property
    def channels(self) -> list[str]:
        return [CHANNEL]

    @property
    def staff_key(self) -> str | None:
        return "user-1"


async def test_a_change_committed_during_the_greeting_reaches_the_socket_after_its_welcome(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'unused.db'}")  # never read: the heads come from the test
    bus = MemoryBus()
    hub = Hub(db, bus, ManualClock(0), 25.0, cast(Presence, object()))
    peer = FakeSocket()
    socket = Greeted(cast(Any, peer), Settings(), db, ManualClock(0), feeds.CONSOLE)

    async def heads_read_then_a_change_commits(known: dict[str, feeds.Head] | None) -> dict[str, feeds.Head]:
        assert known is None, "nothing is cached for a feed nobody followed"
        await bus.publish(CHANNEL, envelope.pack(1, 6, CHANGE_6))  # followed already: the hub hands it over
        return {SCOPE: feeds.Head(epoch=1, seq=5)}

    heads = await hub.follow(socket, {SCOPE: CHANNEL}, heads_read_then_a_change_commits)
    assert heads == {SCOPE: feeds.Head(epoch=1, seq=5)}
    socket.start_feeds([FeedPosition(feed=SCOPE, epoch=1, seq=5)], heads)
    socket.send_welcome(Heartbeat(heads=[]))  # stands for the welcome
    hub.settle(socket, {SCOPE: CHANNEL}, heads)
    socket.streamer.start()
    await socket.streamer.drained(timeout_s=5.0)

    welcome = '{"type":"heartbeat","heads":[],"server_time":null}'
    assert peer.sent == [welcome, CHANGE_6.decode()], "the welcome, then the held change, and no more"
    assert hub.heads.known({SCOPE: CHANNEL}) == {SCOPE: feeds.Head(epoch=1, seq=6, compacted=0)}


async def test_a_greeting_that_fails_leaves_nothing_followed(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'unused.db'}")
    bus = MemoryBus()
    hub = Hub(db, bus, ManualClock(0), 25.0, cast(Presence, object()))
    socket = Greeted(cast(Any, FakeSocket()), Settings(), db, ManualClock(0), feeds.CONSOLE)

    async def store_down(_known: dict[str, feeds.Head] | None) -> dict[str, feeds.Head]:
        raise OSError("the store is down")

    with pytest.raises(OSError, match="store is down"):
        await hub.follow(socket, {SCOPE: CHANNEL}, store_down)
    assert hub.console_count == 0
    assert not hub._follows(CHANNEL)
