"""Hot writes: group commit on SQLite's writer thread, one rollback per failing write."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import text

from server.store.database import Database
from server.store.hot.steps import Steps, numbered, run_on_sqlalchemy
from server.store.outage import StoreUnavailable
from tests.e2e import test_store_outage
from tests.e2e.test_store_outage import StoppablePostgres
from tests.server.store.scratch import HeldWrite, Refused, insert, scratch_database, stored
from tests.support import eventually

postgres = test_store_outage.postgres
"""A throwaway PostgreSQL server the test may stop and start."""


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await scratch_database(database_url)
    yield database
    await database.close()


async def _read_into(rows: dict[int, str], db: Database) -> bool:
    rows.update(await stored(db))
    return True


async def test_concurrent_writes_share_one_commit_and_a_failing_one_rolls_back_alone(tmp_path: Path) -> None:
    db = await scratch_database(f"sqlite:///{tmp_path / 'group.db'}")
    try:
        first = HeldWrite(db, 0, "first")  # every other write is queued behind it
        await first.started()
        commits = db.group_commits

        def write(i: int) -> Steps[int]:
            if i == 7:
                return (yield from insert(i, "refused", then_fail=True))
            if i == 12:
                return (yield from insert(0, "duplicate key"))  # fails in SQLite itself
            return (yield from insert(i, f"note {i}"))

        queued = [asyncio.create_task(db.hot_write(partial(write, i))) for i in range(1, 21)]
        await asyncio.sleep(0)  # every task has submitted its write and waits for it
        first.release()
        assert await first.task == 0
        outcomes = await asyncio.gather(*queued, return_exceptions=True)

        assert db.group_commits == commits + 2  # the first write's commit, then one for all twenty
        for i, outcome in enumerate(outcomes, 1):
            if i == 7:
                assert isinstance(outcome, Refused) and "write 7" in str(outcome)
            elif i == 12:
                assert isinstance(outcome, sqlite3.IntegrityError)
            else:
                assert outcome == i
        assert await stored(db) == {0: "first", **{i: f"note {i}" for i in range(1, 21) if i not in (7, 12)}}
    finally:
        await db.close()


async def test_a_lone_failing_write_keeps_nothing_and_the_next_one_commits(db: Database) -> None:
    with pytest.raises(Refused):
        await db.hot_write(lambda: insert(1, "refused", then_fail=True))
    assert await db.hot_write(lambda: insert(2, "kept")) == 2
    assert await stored(db) == {2: "kept"}


async def test_hot_writes_and_orm_writes_interleave(db: Database) -> None:
    async def orm(i: int) -> None:
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO scratch (id, note) VALUES (:id, 'orm')"), {"id": i})

    hot = [db.hot_write(partial(insert, i, "hot")) for i in range(0, 20, 2)]
    await asyncio.gather(*hot, *map(orm, range(1, 20, 2)))
    assert await stored(db) == {i: "hot" if i % 2 == 0 else "orm" for i in range(20)}


def test_question_marks_become_numbered_parameters() -> None:
    assert numbered("UPDATE t SET a = ?, b = ? WHERE id = ?") == "UPDATE t SET a = $1, b = $2 WHERE id = $3"
    assert numbered("SELECT 1") == "SELECT 1"


async def test_a_postgres_outage_fails_hot_writes_as_unavailable_until_it_is_back(postgres: StoppablePostgres) -> None:
    db = await scratch_database(postgres.admin_url)
    try:
        assert await db.hot_write(partial(insert, 1, "before")) == 1
        postgres.halt()
        for i in range(2, 5):
            with pytest.raises(StoreUnavailable):
                await db.hot_write(partial(insert, i, "during"))
        assert db.outage.in_outage
        postgres.resume()

        async def written() -> bool:
            return await db.hot_write(partial(insert, 5, "after")) == 5

        await eventually(written, timeout=20)
        assert not db.outage.in_outage
        rows: dict[int, str] = {}
        await eventually(lambda: _read_into(rows, db))  # the ORM pool's first read may meet a dead connection
        assert rows == {1: "before", 5: "after"}
    finally:
        await db.close()


async def test_an_orm_write_cancelled_while_waiting_its_turn_does_not_hold_up_hot_writes(tmp_path: Path) -> None:
    db = await scratch_database(f"sqlite:///{tmp_path / 'turns.db'}")
    try:
        first = HeldWrite(db, 1, "held")
        await first.started()

        async def orm_write() -> None:
            async with db.write() as conn:
                await conn.execute(text("INSERT INTO scratch (id, note) VALUES (2, 'orm')"))

        waiting = asyncio.create_task(orm_write())
        await asyncio.sleep(0)  # it has queued its turn behind the held write
        waiting.cancel()
        first.release()
        assert await first.task == 1
        assert await asyncio.wait_for(db.hot_write(partial(insert, 3, "after")), 10) == 3
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await stored(db) == {1: "held", 3: "after"}
    finally:
        await db.close()


async def test_steps_also_run_on_an_orm_connection(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'plain.db'}")
    try:
        async with db.write() as conn:
            await conn.execute(text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, note VARCHAR(40) NOT NULL)"))
            assert await run_on_sqlalchemy(conn, insert(3, "through the ORM connection")) == 3
        assert await stored(db) == {3: "through the ORM connection"}
    finally:
        await db.close()


async def test_a_write_arriving_while_the_writer_closes_is_refused_not_left_waiting(tmp_path: Path) -> None:
    db = await scratch_database(f"sqlite:///{tmp_path / 'closing.db'}")
    first = HeldWrite(db, 1, "held")
    await first.started()
    closing = asyncio.create_task(db.close())
    await asyncio.sleep(0)  # close() has asked the thread to stop and waits for it
    try:
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(db.hot_write(partial(insert, 2, "too late")), 20)

        async def orm_write() -> None:
            async with db.write() as conn:
                await conn.execute(text("INSERT INTO scratch (id, note) VALUES (3, 'too late')"))

        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(orm_write(), 20)
    finally:
        first.release()
        assert await first.task == 1
        await closing
    reopened = Database(f"sqlite:///{tmp_path / 'closing.db'}")
    try:
        assert await stored(reopened) == {1: "held"}
    finally:
        await reopened.close()


class Halt(BaseException):
    """Stops the writer thread, as the interpreter stopping would."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_writes_queued_when_the_writer_thread_dies_are_answered_and_a_new_thread_takes_over(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'dies.db'}")
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, note VARCHAR(40) NOT NULL)"))
    try:
        running, release = threading.Event(), threading.Event()

        def dying() -> Steps[int]:
            running.set()
            release.wait(10)
            yield from insert(1, "never kept")
            raise Halt

        first = asyncio.create_task(db.hot_write(dying))
        await asyncio.to_thread(running.wait, 10)
        queued = asyncio.create_task(db.hot_write(partial(insert, 2, "queued behind")))

        async def orm_write() -> None:
            async with db.write() as conn:
                await conn.execute(text("INSERT INTO scratch (id, note) VALUES (3, 'orm')"))

        turn = asyncio.create_task(orm_write())
        await asyncio.sleep(0)  # both have queued behind the dying write
        release.set()
        with pytest.raises(Halt):
            await asyncio.wait_for(first, 20)
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(queued, 20)
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(turn, 20)
        assert await asyncio.wait_for(db.hot_write(partial(insert, 4, "after")), 20) == 4
        assert await stored(db) == {4: "after"}
    finally:
        await db.close()


def _transactions(outcome: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("caresync_store_transaction_seconds_count", {"outcome": outcome}) or 0.0


async def test_hot_writes_are_timed_with_the_stores_other_transactions(db: Database) -> None:
    committed, rolled_back = _transactions("commit"), _transactions("rollback")
    assert await db.hot_write(partial(insert, 1, "timed")) == 1
    with pytest.raises(Refused):
        await db.hot_write(partial(insert, 2, "refused", then_fail=True))
    assert _transactions("commit") >= committed + 1
    assert _transactions("rollback") >= rolled_back + 1
