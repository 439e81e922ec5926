"""Hot writes on PostgreSQL when the store stalls: bounded waits, no dead connections kept."""

from __future__ import annotations

import asyncio
from functools import partial

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from server.store.database import Database
from server.store.hot.pg_connections import HOT_CONNECTIONS
from server.store.hot.steps import Steps
from server.store.outage import StoreUnavailable
from tests.support import eventually

GUARD_S = 60
"""Only keeps a broken test from hanging; no assertion depends on it."""


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def scratch(postgres_url: str) -> str:
    """A fresh database with a scratch table holding row 1; its plain asyncpg URL."""
    url = _plain(postgres_url)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE scratch (id INTEGER PRIMARY KEY, note VARCHAR(40) NOT NULL)")
        await conn.execute("INSERT INTO scratch (id, note) VALUES (1, 'first')")
    finally:
        await conn.close()
    return url


def _update(row_id: int, note: str) -> Steps[int]:
    rows = yield ("UPDATE scratch SET note = ? WHERE id = ? RETURNING id", (note, row_id))
    updated: int = rows[0][0]
    return updated


def _insert(row_id: int, note: str) -> Steps[int]:
    rows = yield ("INSERT INTO scratch (id, note) VALUES (?, ?) RETURNING id", (row_id, note))
    inserted: int = rows[0][0]
    return inserted


async def _stored(url: str) -> dict[int, str]:
    conn = await asyncpg.connect(url)
    try:
        return {r["id"]: r["note"] for r in await conn.fetch("SELECT id, note FROM scratch")}
    finally:
        await conn.close()


async def _waiting_on_locks(admin: asyncpg.Connection) -> int:
    count: int = await admin.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return count


async def test_a_hot_write_finding_every_connection_stuck_fails_as_unavailable(scratch: str) -> None:
    db = Database(scratch, checkout_timeout_s=0.5)
    holder = await asyncpg.connect(scratch)
    watcher = await asyncpg.connect(scratch)
    stuck: list[asyncio.Task[int]] = []
    try:
        lock = holder.transaction()
        await lock.start()
        await holder.execute("SELECT note FROM scratch WHERE id = 1 FOR UPDATE")
        stuck = [asyncio.create_task(db.hot_write(partial(_update, 1, f"stuck {i}"))) for i in range(HOT_CONNECTIONS)]

        async def all_stuck() -> bool:
            return await _waiting_on_locks(watcher) == HOT_CONNECTIONS

        await eventually(all_stuck, timeout=GUARD_S)  # every hot connection waits on the lock

        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(db.hot_write(partial(_insert, 2, "no connection free")), GUARD_S)
        assert db.outage.in_outage

        await lock.rollback()
        assert sorted(await asyncio.wait_for(asyncio.gather(*stuck), GUARD_S)) == [1] * HOT_CONNECTIONS
        assert await db.hot_write(partial(_insert, 3, "after")) == 3
        assert not db.outage.in_outage
        stored = await _stored(scratch)
        assert stored[1].startswith("stuck ") and stored[3] == "after" and 2 not in stored
    finally:
        for task in stuck:
            task.cancel()
        await asyncio.gather(*stuck, return_exceptions=True)
        await holder.close()
        await watcher.close()
        await db.close()


async def test_a_hot_write_stuck_on_a_statement_fails_as_unavailable_and_the_next_one_commits(scratch: str) -> None:
    db = Database(scratch, hot_command_timeout_s=0.5)
    holder = await asyncpg.connect(scratch)
    try:
        lock = holder.transaction()
        await lock.start()
        await holder.execute("SELECT note FROM scratch WHERE id = 1 FOR UPDATE")
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(db.hot_write(partial(_update, 1, "waits on the lock")), GUARD_S)
        await lock.rollback()
        assert await db.hot_write(partial(_update, 1, "after")) == 1
        assert await _stored(scratch) == {1: "after"}
    finally:
        await holder.close()
        await db.close()


class SilencingRelay:
    """A TCP relay to PostgreSQL that can go silent on the connections it carries.

    Bytes on a silenced connection are dropped while its sockets stay open: what a client
    sees of a dead network or of a server that went away without a word. Connections made
    afterwards are relayed as usual.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.listen_port = 0
        self._server: asyncio.Server | None = None
        self._silenced: list[dict[str, bool]] = []
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.listen_port = self._server.sockets[0].getsockname()[1]

    def silence(self) -> None:
        for state in self._silenced:
            state["silent"] = True

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        state = {"silent": False}
        self._silenced.append(state)
        self._writers += [writer, up_writer]
        await asyncio.gather(_pipe(reader, up_writer, state), _pipe(up_reader, writer, state))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: dict[str, bool]) -> None:
    try:
        while data := await reader.read(65536):
            if not state["silent"]:
                writer.write(data)
                await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def test_after_an_outage_error_the_idle_connections_are_not_reused(scratch: str) -> None:
    url = make_url(scratch)
    assert url.host is not None
    relay = SilencingRelay(url.host, url.port or 5432)
    await relay.start()
    db = Database(url.set(port=relay.listen_port).render_as_string(hide_password=False), hot_command_timeout_s=0.5)
    try:
        writes = [db.hot_write(partial(_insert, i, "before")) for i in (2, 3, 4)]
        assert sorted(await asyncio.gather(*writes)) == [2, 3, 4]
        assert db._hot_pg is not None and db._hot_pg.idle == 3

        relay.silence()  # every open connection is now dead, though it looks open
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(db.hot_write(partial(_insert, 5, "into the silence")), GUARD_S)
        assert await asyncio.wait_for(db.hot_write(partial(_insert, 6, "after")), GUARD_S) == 6
        assert not db.outage.in_outage
        stored = await _stored(scratch)
        assert stored == {1: "first", 2: "before", 3: "before", 4: "before", 6: "after"}
    finally:
        await relay.close()
        await db.close()
