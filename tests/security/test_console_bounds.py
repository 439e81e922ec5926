"""One staff token cannot make ``/ws/console`` cost the node: heartbeats are answered from
memory, frames beyond a socket's rate are refused and then closed (4005), and a user's
sockets on a node are capped (4006)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from protocol.codec import encode
from protocol.console import ConsoleHello, ConsoleWelcome
from protocol.errors import CloseCode, ErrorCode, should_reconnect
from protocol.frames import Error, FeedPosition, Heartbeat
from server.node import Node
from tests.conftest import start_server, stop_server
from tests.conftest import test_settings as settings_for
from tests.security.conftest import World, build_world
from tests.support import RawConsole

BURST = 10
SOCKETS_PER_USER = 3


@pytest.fixture
async def bounded(tmp_path: Path) -> AsyncIterator[World]:
    """Small console bounds, and no periodic heads read of the node's own during a test."""
    settings = settings_for(
        tmp_path,
        heartbeat_interval_s=600,
        console_frames_per_s=1.0,
        console_frame_burst=BURST,
        console_sockets_per_user=SOCKETS_PER_USER,
    )
    running = await start_server(Node.build(settings))
    yield await build_world(running)
    await stop_server(running)


@contextmanager
def statements_run(node: Node, wanted: Callable[[str], bool] = lambda _: True) -> Iterator[list[str]]:
    """The ``wanted`` statements the node's engine runs while the context is open."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if wanted(statement):
            seen.append(statement)

    engine = node.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def console_head_reads(node: Node) -> AbstractContextManager[list[str]]:
    return statements_run(node, lambda s: s.lstrip().upper().startswith("SELECT") and "FROM console_feeds" in s)


async def _console(world: World) -> tuple[RawConsole, ConsoleWelcome]:
    console = await RawConsole.connect(world.running)
    return console, await console.hello(world.coordinator_token)


async def _heartbeat(console: RawConsole) -> Heartbeat:
    await console.ws.send(encode(Heartbeat()).decode())
    while True:
        frame = await console.receive()
        if isinstance(frame, Heartbeat):
            return frame
        assert not isinstance(frame, Error), frame


async def test_heartbeats_are_answered_from_memory(bounded: World) -> None:
    console, welcome = await _console(bounded)
    heads = sorted((FeedPosition(feed=f.feed, epoch=f.epoch, seq=f.head) for f in welcome.feeds), key=str)
    await _heartbeat(console)  # the first may read what no socket of the node followed before
    with console_head_reads(bounded.running.node) as reads:
        for _ in range(BURST - 2):
            beat = await _heartbeat(console)
            assert sorted(beat.heads, key=str) == heads
    assert reads == [], "a console heartbeat read the database"
    await console.close()


async def test_a_flood_of_frames_is_refused_then_closed(bounded: World) -> None:
    console, _ = await _console(bounded)
    beat = encode(Heartbeat()).decode()
    for _ in range(BURST + 100):
        await console.ws.send(beat)
    refused: list[Error] = []
    try:
        async with asyncio.timeout(5):
            while True:
                frame = await console.receive()
                if isinstance(frame, Error):
                    refused.append(frame)
    except Exception:
        pass
    assert refused and {e.code for e in refused} == {ErrorCode.RATE_LIMITED}
    assert console.ws.close_code == CloseCode.TOO_MANY_FRAMES
    assert should_reconnect(CloseCode.TOO_MANY_FRAMES)


async def test_frames_within_the_burst_are_all_answered(bounded: World) -> None:
    console, _ = await _console(bounded)
    for _ in range(BURST - 1):  # the hello took one
        await console.ws.send(encode(Heartbeat()).decode())
    answered = [await console.receive() for _ in range(BURST - 1)]
    assert all(isinstance(frame, Heartbeat) for frame in answered), answered
    await console.close()


async def _refused_hello(world: World) -> tuple[Error, int | None]:
    console = await RawConsole.connect(world.running)
    await console.ws.send(encode(ConsoleHello(token=world.coordinator_token, positions=[])).decode())
    frame = await console.receive()
    assert isinstance(frame, Error), frame
    return frame, await console.close_code()


async def test_a_users_sockets_are_capped(bounded: World) -> None:
    held = [await _console(bounded) for _ in range(SOCKETS_PER_USER)]
    error, code = await _refused_hello(bounded)
    assert error.code == ErrorCode.TOO_MANY_SOCKETS
    assert code == CloseCode.TOO_MANY_SOCKETS
    assert should_reconnect(CloseCode.TOO_MANY_SOCKETS)
    # Another user is not held back by this one's sockets.
    admin = await RawConsole.connect(bounded.running)
    await admin.hello(bounded.agency.admin_token)
    # A socket that closes gives its place back.
    first, _ = held.pop()
    await first.close()
    for _ in range(50):
        if bounded.running.node.console_sockets.held(bounded.coordinator_id) < SOCKETS_PER_USER:
            break
        await asyncio.sleep(0.02)
    again, _ = await _console(bounded)
    for console in [again, admin, *(c for c, _ in held)]:
        await console.close()


async def test_sockets_greeted_at_once_are_capped_too(bounded: World) -> None:
    consoles = [await RawConsole.connect(bounded.running) for _ in range(12)]
    hello = encode(ConsoleHello(token=bounded.coordinator_token, positions=[])).decode()
    await asyncio.gather(*(console.ws.send(hello) for console in consoles))
    answers = await asyncio.gather(*(console.receive() for console in consoles))
    assert sum(isinstance(a, ConsoleWelcome) for a in answers) == SOCKETS_PER_USER
    assert sum(isinstance(a, Error) and a.code == ErrorCode.TOO_MANY_SOCKETS for a in answers) == 12 - SOCKETS_PER_USER
    for console in consoles:
        await console.close()


async def test_a_token_closed_for_flooding_sits_out_its_wait_before_anything_is_read(bounded: World) -> None:
    console, _ = await _console(bounded)
    for _ in range(BURST + 100):
        await console.ws.send(encode(Heartbeat()).decode())
    assert await console.close_code() == CloseCode.TOO_MANY_FRAMES
    with statements_run(bounded.running.node) as statements:
        error, code = await _refused_hello(bounded)
    assert (error.code, code) == (ErrorCode.RATE_LIMITED, CloseCode.TOO_MANY_FRAMES)
    assert "retry in" in error.message
    assert statements == [], "a token sitting out its wait was authenticated or greeted"
    # Another user's token is not held back.
    other = await RawConsole.connect(bounded.running)
    assert isinstance(await other.hello(bounded.agency.admin_token), ConsoleWelcome)
    await other.close()
