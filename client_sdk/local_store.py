"""The device's local SQLite store: the carer's visits, feed positions and the outbox.

A change and the feed position it moves to are written in ONE transaction, so a crash
can never leave a position that claims data the store does not have.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import msgspec

from client_sdk import seen_store
from protocol.frames import (
    Change,
    CleanSyncResponse,
    FeedPosition,
    Mutation,
    MutationResult,
    VisitRemoved,
    VisitUpsert,
    VisitView,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    feed TEXT PRIMARY KEY, epoch INTEGER NOT NULL, seq INTEGER NOT NULL, carer_name TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS visits (
    feed TEXT NOT NULL, visit_id TEXT NOT NULL, starts_at TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (feed, visit_id)
);
CREATE TABLE IF NOT EXISTS outbox (
    mutation_id INTEGER PRIMARY KEY, body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', result TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS work_in_progress (
    visit_id TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', since TEXT NOT NULL,
    PRIMARY KEY (visit_id, kind, detail)
);
CREATE TABLE IF NOT EXISTS staging (
    feed TEXT PRIMARY KEY, snapshot_id TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
    next_cursor TEXT
);
CREATE TABLE IF NOT EXISTS staging_visits (
    feed TEXT NOT NULL, visit_id TEXT NOT NULL, starts_at TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (feed, visit_id)
);
"""

_mutation_decoder = msgspec.json.Decoder(Mutation)
_visit_decoder = msgspec.json.Decoder(VisitView)
_result_decoder = msgspec.json.Decoder(MutationResult)


class LocalStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA + seen_store.SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------ positions

    def positions(self) -> list[FeedPosition]:
        rows = self._db.execute("SELECT feed, epoch, seq FROM feeds ORDER BY feed")
        return [FeedPosition(feed=f, epoch=e, seq=s) for f, e, s in rows]

    def position(self, feed: str) -> FeedPosition | None:
        row = self._db.execute("SELECT epoch, seq FROM feeds WHERE feed = ?", (feed,)).fetchone()
        return None if row is None else FeedPosition(feed=feed, epoch=row[0], seq=row[1])

    def ensure_feed(self, feed: str, epoch: int, carer_name: str) -> FeedPosition:
        """Start tracking a feed at (epoch, 0) unless it is tracked already."""
        self._db.execute(
            "INSERT INTO feeds (feed, epoch, seq, carer_name) VALUES (?, ?, 0, ?) "
            "ON CONFLICT (feed) DO UPDATE SET carer_name = excluded.carer_name",
            (feed, epoch, carer_name),
        )
        position = self.position(feed)
        assert position is not None
        return position

    def reset_feed(self, feed: str, epoch: int) -> None:
        """Drop the feed's data and start it over at (epoch, 0)."""
        with self._transaction() as db:
            db.execute("DELETE FROM visits WHERE feed = ?", (feed,))
            seen_store.drop_feed(db, feed)
            db.execute(
                "INSERT INTO feeds (feed, epoch, seq) VALUES (?, ?, 0) "
                "ON CONFLICT (feed) DO UPDATE SET epoch = excluded.epoch, seq = 0",
                (feed, epoch),
            )

    def forget_feeds_except(self, feeds: set[str]) -> None:
        """Drop carers no longer on this device (and their visits)."""
        for (feed,) in self._db.execute("SELECT feed FROM feeds").fetchall():
            if feed not in feeds:
                with self._transaction() as db:
                    db.execute("DELETE FROM visits WHERE feed = ?", (feed,))
                    seen_store.drop_feed(db, feed)
                    db.execute("DELETE FROM feeds WHERE feed = ?", (feed,))

    # ------------------------------------------------------------ changes

    def apply(self, change: Change, seen_window_h: int = 0) -> None:
        """Apply one change and move the feed to its seq, atomically; a change that needs
        the carer's acknowledgement (``seen_window_h``, :mod:`protocol.seen_policy`) is
        noted as awaiting it in the same transaction.

        Raises ``ValueError`` if the stored position is not exactly ``seq - 1`` in the
        change's epoch (the caller's tracker must have said Apply).
        """
        with self._transaction() as db:
            moved = db.execute(
                "UPDATE feeds SET seq = ? WHERE feed = ? AND epoch = ? AND seq = ?",
                (change.seq, change.feed, change.epoch, change.seq - 1),
            ).rowcount
            if moved != 1:
                raise ValueError(
                    f"change {change.feed}@{change.epoch}:{change.seq} does not follow the stored position"
                )
            payload = change.payload
            if seen_window_h or (isinstance(payload, VisitUpsert) and payload.needs_seen):
                # a change the office marked needs acknowledgement even with the window off
                held = self.visit(change.feed, payload.visit_id) if isinstance(payload, VisitRemoved) else None
                seen_store.note_change(db, change, held, seen_window_h)
            if isinstance(payload, VisitRemoved):
                db.execute(
                    "DELETE FROM visits WHERE feed = ? AND visit_id = ?",
                    (change.feed, payload.visit_id),
                )
            else:
                visit = payload.visit
                db.execute(
                    "INSERT INTO visits (feed, visit_id, starts_at, body) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (feed, visit_id) DO UPDATE SET starts_at = excluded.starts_at, body = excluded.body",
                    (
                        change.feed,
                        visit.id,
                        visit.starts_at.isoformat(),
                        msgspec.json.encode(visit).decode(),
                    ),
                )

    # ------------------------------------------------------------ visits

    def visits(
        self, feed: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> list[VisitView]:
        """Visits held for ``feed`` (or every carer on the device), by start time."""
        rows = self._db.execute(
            "SELECT body FROM visits WHERE (? IS NULL OR feed = ?) ORDER BY starts_at, visit_id",
            (feed, feed),
        )
        found = [_visit_decoder.decode(body) for (body,) in rows]
        return [v for v in found if (since is None or v.starts_at >= since) and (until is None or v.starts_at < until)]

    def visit(self, feed: str, visit_id: str) -> VisitView | None:
        row = self._db.execute("SELECT body FROM visits WHERE feed = ? AND visit_id = ?", (feed, visit_id)).fetchone()
        return None if row is None else _visit_decoder.decode(row[0])

    # ------------------------------------------------------------ outbox

    def next_mutation_id(self) -> int:
        """Device-unique, increasing: never reused, even after the outbox is emptied."""
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'last_mutation_id'").fetchone()
            next_id = (int(row[0]) if row else 0) + 1
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('last_mutation_id', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(next_id),),
            )
        return next_id

    def enqueue(self, mutation: Mutation) -> None:
        self._db.execute(
            "INSERT INTO outbox (mutation_id, body) VALUES (?, ?)",
            (mutation.mutation_id, msgspec.json.encode(mutation).decode()),
        )

    def pending(self, limit: int, max_bytes: int | None = None) -> list[Mutation]:
        """The oldest pending recordings: at most ``limit``, and (with ``max_bytes``) no more
        than fit in that many bytes of JSON, though always the first one."""
        rows = self._db.execute(
            "SELECT body FROM outbox WHERE state = 'pending' ORDER BY mutation_id LIMIT ?", (limit,)
        )
        taken: list[Mutation] = []
        size = 0
        for (body,) in rows:
            size += len(body.encode()) + 1
            if taken and max_bytes is not None and size > max_bytes:
                break
            taken.append(_mutation_decoder.decode(body))
        return taken

    def record_results(self, results: list[MutationResult]) -> None:
        with self._transaction() as db:
            for result in results:
                db.execute(
                    "UPDATE outbox SET state = 'done', result = ? WHERE mutation_id = ?",
                    (msgspec.json.encode(result).decode(), result.mutation_id),
                )

    def result(self, mutation_id: int) -> MutationResult | None:
        row = self._db.execute("SELECT result FROM outbox WHERE mutation_id = ?", (mutation_id,)).fetchone()
        return None if row is None or row[0] is None else _result_decoder.decode(row[0])

    # ------------------------------------------------------------ work in progress

    def begin_work(self, visit_id: str, kind: str, detail: str, since: datetime) -> None:
        """A visit checked in, or a form opened: a clean sync asks before going ahead."""
        self._db.execute(
            "INSERT OR IGNORE INTO work_in_progress (visit_id, kind, detail, since) VALUES (?, ?, ?, ?)",
            (visit_id, kind, detail, since.isoformat()),
        )

    def end_work(self, visit_id: str, kind: str, detail: str = "") -> None:
        self._db.execute(
            "DELETE FROM work_in_progress WHERE visit_id = ? AND kind = ? AND detail = ?", (visit_id, kind, detail)
        )

    def work_in_progress(self) -> list[tuple[str, str, str]]:
        """(visit id, kind, detail) of every visit checked in and form being filled in."""
        rows = self._db.execute("SELECT visit_id, kind, detail FROM work_in_progress ORDER BY since")
        return [(v, k, d) for v, k, d in rows]

    # ------------------------------------------------------------ clean sync staging

    def staged(self, feed: str) -> tuple[str, str | None] | None:
        """(snapshot id, next cursor) of an unfinished clean sync of ``feed``."""
        row = self._db.execute("SELECT snapshot_id, next_cursor FROM staging WHERE feed = ?", (feed,)).fetchone()
        return None if row is None else (row[0], row[1])

    def stage_page(self, response: CleanSyncResponse) -> None:
        """Keep one snapshot page (and where to resume) in staging; the live copy is untouched."""
        with self._transaction() as db:
            row = db.execute("SELECT snapshot_id FROM staging WHERE feed = ?", (response.feed,)).fetchone()
            if row is None or row[0] != response.snapshot_id:
                db.execute("DELETE FROM staging_visits WHERE feed = ?", (response.feed,))
            db.execute(
                "INSERT INTO staging (feed, snapshot_id, epoch, seq, next_cursor) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (feed) DO UPDATE SET snapshot_id = excluded.snapshot_id, epoch = excluded.epoch, "
                "seq = excluded.seq, next_cursor = excluded.next_cursor",
                (response.feed, response.snapshot_id, response.epoch, response.seq, response.next_cursor),
            )
            db.executemany(
                "INSERT OR REPLACE INTO staging_visits (feed, visit_id, starts_at, body) VALUES (?, ?, ?, ?)",
                [
                    (response.feed, v.id, v.starts_at.isoformat(), msgspec.json.encode(v).decode())
                    for v in response.visits
                ],
            )

    def swap_in(self, feed: str) -> FeedPosition:
        """Replace the feed's visits with the complete snapshot and take its position, atomically."""
        with self._transaction() as db:
            row = db.execute("SELECT epoch, seq, next_cursor FROM staging WHERE feed = ?", (feed,)).fetchone()
            if row is None or row[2] is not None:
                raise ValueError(f"no complete snapshot of feed {feed} is staged")
            db.execute("DELETE FROM visits WHERE feed = ?", (feed,))
            db.execute(
                "INSERT INTO visits (feed, visit_id, starts_at, body) "
                "SELECT feed, visit_id, starts_at, body FROM staging_visits WHERE feed = ?",
                (feed,),
            )
            db.execute(
                "INSERT INTO feeds (feed, epoch, seq) VALUES (?, ?, ?) "
                "ON CONFLICT (feed) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq",
                (feed, row[0], row[1]),
            )
            db.execute("DELETE FROM staging_visits WHERE feed = ?", (feed,))
            db.execute("DELETE FROM staging WHERE feed = ?", (feed,))
        return FeedPosition(feed=feed, epoch=row[0], seq=row[1])

    def discard_staging(self, feed: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM staging_visits WHERE feed = ?", (feed,))
            db.execute("DELETE FROM staging WHERE feed = ?", (feed,))

    # ------------------------------------------------------------ the carer's acknowledgement

    def awaiting_seen(self, feed: str | None = None) -> list[seen_store.AwaitingSeen]:
        return seen_store.awaiting(self._db, feed)

    def mark_seen(self, changes: list[tuple[str, int, int]], at: datetime) -> None:
        with self._transaction() as db:
            seen_store.mark_seen(db, changes, at)

    def unsent_seen(self) -> dict[tuple[str, int], tuple[datetime, list[int]]]:
        return seen_store.unsent(self._db)

    def seen_answered(self, feed: str, epoch: int, seqs: list[int]) -> None:
        with self._transaction() as db:
            seen_store.answered(db, feed, epoch, seqs)

    def pending_count(self) -> int:
        count: int = self._db.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
        return count
