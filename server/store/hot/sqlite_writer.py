"""SQLite's dedicated writer thread: hot writes on plain ``sqlite3`` with group commit.

Every hot write submitted while the thread is busy joins the next transaction: the
thread takes all waiting writes (up to :data:`MAX_BATCH`), runs each inside its own
``SAVEPOINT`` and commits them together, so concurrent rota changes share one
``BEGIN IMMEDIATE`` ... ``COMMIT``. A write that fails rolls back to its savepoint and
gets its own exception; the others still commit, unless SQLite rolled the whole
transaction back itself (a full disk): then every write in it gets that error. A write
is answered only after the commit succeeded; when the commit itself fails (a full disk),
every write in it gets that error and nothing of the batch is kept. A batch of one runs
without a savepoint.

The thread hands results back to the event loop with one ``call_soon_threadsafe`` per
batch. Writes through :meth:`Database.write` (SQLAlchemy, on aiosqlite's connections)
take their turn in the same queue (:meth:`SqliteWriter.exclusive`): the thread commits
what came before, then waits until that write has finished. So the node's writers never
meet on SQLite's lock, where the busy handler would make them poll and sleep, and
neither kind can starve the other.

While :meth:`SqliteWriter.close` runs, new writes are refused with
:class:`StoreUnavailable` instead of queueing behind the stop marker, and anything still
queued when the thread exits (for any reason) is answered with that error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from server.observability.instruments import STORE_TRANSACTION
from server.store import sqlite_settings
from server.store.hot.steps import StepsFactory, T, run_on_sqlite
from server.store.outage import StoreUnavailable

log = logging.getLogger(__name__)

MAX_BATCH = 64
"""Most writes committed together."""

CLOSE_TIMEOUT_S = 10.0
"""How long closing waits for the thread to finish what it holds (it is a daemon thread)."""


@dataclass(slots=True)
class _Job:
    steps: StepsFactory[Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


@dataclass(slots=True)
class _Turn:
    """An ORM write's turn: the thread grants it, then waits until it is released."""

    granted: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop
    released: threading.Event


@dataclass(slots=True)
class _Outcome:
    job: _Job
    value: Any = None
    error: BaseException | None = None


class SqliteWriter:
    """One thread, one ``sqlite3`` connection, all hot writes of a node's SQLite store."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._jobs: queue.SimpleQueue[_Job | _Turn | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        """Guards starting the thread, queueing and the stop marker: nothing lands behind it."""
        self._closing = False
        self.commits = 0
        """Transactions committed (a test's view of group commit)."""

    def submit(self, steps: StepsFactory[T]) -> asyncio.Future[T]:
        """Queue a write; the future resolves after the commit that includes it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue(_Job(steps, future, loop))
        return future

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the writer thread (after the writes queued before) for an ORM write."""
        loop = asyncio.get_running_loop()
        turn = _Turn(loop.create_future(), loop, threading.Event())
        self._queue(turn)
        try:
            await turn.granted
            yield
        finally:
            turn.released.set()  # also when cancelled while waiting: the thread then passes on

    def _queue(self, item: _Job | _Turn) -> None:
        with self._lock:
            if self._closing:
                raise StoreUnavailable(RuntimeError("the SQLite writer is closing"))
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="sqlite-writer", daemon=True)
                self._thread.start()
            self._jobs.put(item)

    async def close(self) -> None:
        with self._lock:
            thread = self._thread
            if thread is None or self._closing:
                return
            self._closing = True
            self._jobs.put(None)
        try:
            await asyncio.to_thread(thread.join, CLOSE_TIMEOUT_S)
        finally:
            with self._lock:
                if self._thread is thread:
                    self._thread = None
                self._closing = False

    # ------------------------------------------------------------ writer thread

    def _serve(self) -> None:
        try:
            while True:
                item = self._jobs.get()
                batch: list[_Job] = []
                while item is not None:
                    if isinstance(item, _Turn):
                        self._flush(batch)
                        _give_turn(item)
                    else:
                        batch.append(item)
                        if len(batch) >= MAX_BATCH:
                            self._flush(batch)
                    try:
                        item = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                self._flush(batch)
                if item is None:
                    return
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._refuse_left_over()

    def _refuse_left_over(self) -> None:
        """Answer what is still queued as the thread exits; a later write starts a new thread."""
        with self._lock:
            if threading.current_thread() is self._thread:
                self._thread = None
            left: list[_Job | _Turn] = []
            while True:
                try:
                    item = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    left.append(item)
        error = StoreUnavailable(RuntimeError("the SQLite writer stopped"))
        _deliver([_Outcome(item, error=error) for item in left if isinstance(item, _Job)])
        for turn in (item for item in left if isinstance(item, _Turn)):
            with contextlib.suppress(RuntimeError):
                turn.loop.call_soon_threadsafe(_refuse, turn.granted, error)

    def _flush(self, batch: list[_Job]) -> None:
        if not batch:
            return
        try:
            outcomes = self._commit(batch)
        except BaseException as exc:  # a bug, or the interpreter stopping: fail the batch, keep no lock
            self._rollback()
            _deliver([_Outcome(job, error=exc) for job in batch])
            if not isinstance(exc, Exception):
                raise
            log.exception("the SQLite writer thread failed a batch of %d writes", len(batch))
        else:
            _deliver(outcomes)
        batch.clear()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                sqlite_settings.configure(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _commit(self, batch: list[_Job]) -> list[_Outcome]:
        """Run ``batch`` in one transaction (timed in the store's transaction histogram)."""
        began = time.perf_counter()
        outcomes = self._commit_batch(batch)
        outcome = "commit" if any(o.error is None for o in outcomes) else "rollback"
        STORE_TRANSACTION.labels(outcome).observe(time.perf_counter() - began)
        return outcomes

    def _commit_batch(self, batch: list[_Job]) -> list[_Outcome]:
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
        except Exception as exc:
            self._discard()
            return [_Outcome(job, error=exc) for job in batch]
        outcomes: list[_Outcome] = []
        try:
            if len(batch) == 1:
                outcomes.append(_Outcome(batch[0], value=run_on_sqlite(conn, batch[0].steps())))
            else:
                for job in batch:
                    outcomes.append(_run_in_savepoint(conn, job))
            conn.execute("COMMIT")
        except Exception as exc:
            # The transaction as a whole failed (a lone write raised, a savepoint could not be
            # rolled back, or the commit failed): nothing of it is kept.
            self._rollback()
            failed = {id(o.job): o for o in outcomes if o.error is not None}
            return [failed.get(id(job)) or _Outcome(job, error=exc) for job in batch]
        self.commits += 1
        return outcomes

    def _rollback(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            self._discard()

    def _discard(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None


def _run_in_savepoint(conn: sqlite3.Connection, job: _Job) -> _Outcome:
    conn.execute("SAVEPOINT hot_write")
    try:
        value = run_on_sqlite(conn, job.steps())
    except Exception as exc:
        if not conn.in_transaction:
            # SQLite rolled the whole transaction back itself (SQLITE_FULL, an I/O error):
            # the batch fails with this write's error, which says what happened.
            raise
        conn.execute("ROLLBACK TO hot_write")  # raises if it cannot: the batch then fails
        conn.execute("RELEASE hot_write")
        return _Outcome(job, error=exc)
    conn.execute("RELEASE hot_write")
    return _Outcome(job, value=value)


def _give_turn(turn: _Turn) -> None:
    try:
        turn.loop.call_soon_threadsafe(_grant, turn.granted)
    except RuntimeError:  # the loop has closed: nobody is waiting
        return
    turn.released.wait()


def _grant(granted: asyncio.Future[None]) -> None:
    if not granted.done():
        granted.set_result(None)


def _refuse(granted: asyncio.Future[None], error: BaseException) -> None:
    if not granted.done():
        granted.set_exception(error)


def _deliver(outcomes: list[_Outcome]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome.job.loop, []).append(outcome)
    for loop, answered in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            loop.call_soon_threadsafe(_resolve, answered)


def _resolve(outcomes: list[_Outcome]) -> None:
    for outcome in outcomes:
        future = outcome.job.future
        if future.done():
            continue
        if outcome.error is not None:
            future.set_exception(outcome.error)
        else:
            future.set_result(outcome.value)
