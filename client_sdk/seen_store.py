"""The device's side of the carer's acknowledgement (docs/protocol.md 4b), in the local store.

``to_see`` holds, per change that needs the carer's acknowledgement, whether the carer has
seen it (``seen_at``). A row is written in the transaction that applies its change, marked
when the carer acknowledges, and deleted once the server answered the ``seen`` naming it,
so an acknowledgement made offline or cut off in flight is sent again until recorded.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from protocol.frames import Change, VisitRemoved, VisitView
from protocol.seen_policy import needs_seen

SCHEMA = """
CREATE TABLE IF NOT EXISTS to_see (
    feed TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL, visit_id TEXT NOT NULL,
    committed_at TEXT NOT NULL, seen_at TEXT, PRIMARY KEY (feed, epoch, seq)
);
"""


@dataclass(frozen=True)
class AwaitingSeen:
    """A change the carer has to acknowledge (the tenant's policy says it needs it)."""

    feed: str
    epoch: int
    seq: int
    visit_id: str
    committed_at: datetime


def note_change(db: sqlite3.Connection, change: Change, held: VisitView | None, window_h: int) -> None:
    """Inside the transaction applying ``change``: remember it if it needs acknowledgement."""
    if not needs_seen(change, held, window_h):
        return
    payload = change.payload
    visit_id = payload.visit_id if isinstance(payload, VisitRemoved) else payload.visit.id
    db.execute(
        "INSERT OR IGNORE INTO to_see (feed, epoch, seq, visit_id, committed_at) VALUES (?, ?, ?, ?, ?)",
        (change.feed, change.epoch, change.seq, visit_id, change.committed_at.isoformat()),
    )


def drop_feed(db: sqlite3.Connection, feed: str) -> None:
    """A reset or a carer leaving the device: nothing of the old copy can be acknowledged."""
    db.execute("DELETE FROM to_see WHERE feed = ?", (feed,))


def awaiting(db: sqlite3.Connection, feed: str | None = None) -> list[AwaitingSeen]:
    rows = db.execute(
        "SELECT feed, epoch, seq, visit_id, committed_at FROM to_see WHERE seen_at IS NULL"
        " AND (? IS NULL OR feed = ?) ORDER BY committed_at, feed, seq",
        (feed, feed),
    )
    return [AwaitingSeen(f, e, s, v, datetime.fromisoformat(c)) for f, e, s, v, c in rows]


def mark_seen(db: sqlite3.Connection, changes: list[tuple[str, int, int]], at: datetime) -> None:
    """The carer saw these changes (ones that did not need it are noted too)."""
    for feed, epoch, seq in changes:
        db.execute(
            "INSERT INTO to_see (feed, epoch, seq, visit_id, committed_at, seen_at) VALUES (?, ?, ?, '', ?, ?)"
            " ON CONFLICT (feed, epoch, seq) DO UPDATE SET seen_at = COALESCE(to_see.seen_at, excluded.seen_at)",
            (feed, epoch, seq, at.isoformat(), at.isoformat()),
        )


def unsent(db: sqlite3.Connection) -> dict[tuple[str, int], tuple[datetime, list[int]]]:
    """(feed, epoch) -> (the earliest seen time, the seqs) of acknowledgements not answered yet."""
    found: dict[tuple[str, int], tuple[datetime, list[int]]] = {}
    rows = db.execute("SELECT feed, epoch, seq, seen_at FROM to_see WHERE seen_at IS NOT NULL ORDER BY feed, seq")
    for feed, epoch, seq, seen_at in rows:
        at, seqs = found.get((feed, epoch), (datetime.fromisoformat(seen_at), []))
        found[(feed, epoch)] = (min(at, datetime.fromisoformat(seen_at)), [*seqs, seq])
    return found


def answered(db: sqlite3.Connection, feed: str, epoch: int, seqs: list[int]) -> None:
    """The server recorded (or refused for good) these acknowledgements: forget them."""
    db.executemany("DELETE FROM to_see WHERE feed = ? AND epoch = ? AND seq = ?", [(feed, epoch, s) for s in seqs])
