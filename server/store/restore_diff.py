"""What a SQLite database holds that a backup of it does not: the work a restore would undo.

Read before a restore replaces the database (``caresync restore``), with the backup
attached to the same connection. Each list is what the office, the devices or the
enrolments did after the backup was taken: rota changes in the carers' feeds, visits
created or changed, care records and the uploads they came from, devices enrolled and
tokens issued. The feeds that moved past the backup are the ones whose devices may hold
positions the restored database never had.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FEED_CHANGES = """
SELECT e.carer_id, e.epoch, e.seq, e.visit_id, e.committed_at, e.summary
FROM feed_entries e LEFT JOIN backup.feeds f ON f.carer_id = e.carer_id
WHERE f.carer_id IS NULL OR e.epoch > f.epoch OR (e.epoch = f.epoch AND e.seq > f.head_seq)
ORDER BY e.carer_id, e.epoch, e.seq
"""

MOVED_FEEDS = """
SELECT f.carer_id, f.tenant_id, f.epoch, f.head_seq, b.epoch AS backup_epoch, b.head_seq AS backup_head
FROM feeds f JOIN backup.feeds b ON b.carer_id = f.carer_id
WHERE f.epoch != b.epoch OR f.head_seq > b.head_seq
ORDER BY f.carer_id
"""

VISITS = """
SELECT v.id, v.tenant_id, v.client_id, v.starts_at, v.status, b.version AS backup_version, v.version
FROM visits v LEFT JOIN backup.visits b ON b.id = v.id
WHERE b.id IS NULL OR b.version != v.version
ORDER BY v.starts_at, v.id
"""

CARE_RECORDS = """
SELECT r.id, r.tenant_id, r.visit_id, r.carer_id, r.device_id, r.mutation_id, r.kind, r.task_id, r.captured_at,
       r.received_at, r.payload
FROM care_records r LEFT JOIN backup.care_records b ON b.id = r.id
WHERE b.id IS NULL
ORDER BY r.received_at, r.id
"""

UPLOADS = """
SELECT m.device_id, m.mutation_id, m.kind, m.carer_id, m.visit_id, m.received_at, m.status
FROM device_mutations m LEFT JOIN backup.device_mutations b ON b.device_id = m.device_id
  AND b.mutation_id = m.mutation_id
WHERE b.device_id IS NULL
ORDER BY m.received_at, m.device_id, m.mutation_id
"""

DEVICES = """
SELECT d.id, d.tenant_id, d.name FROM devices d LEFT JOIN backup.devices b ON b.id = d.id
WHERE b.id IS NULL ORDER BY d.created_at, d.id
"""

CREDENTIALS = """
SELECT c.kind, count(*) AS issued FROM credentials c LEFT JOIN backup.credentials b ON b.id = c.id
WHERE b.id IS NULL GROUP BY c.kind ORDER BY c.kind
"""


@dataclass(frozen=True)
class MovedFeed:
    carer_id: str
    tenant_id: str
    epoch: int
    """The feed's epoch in the database being replaced."""
    head: int
    backup_epoch: int
    backup_head: int


@dataclass
class LostWork:
    """Rows of the database being replaced that the backup does not have."""

    feed_changes: list[dict[str, Any]] = field(default_factory=list)
    moved_feeds: list[MovedFeed] = field(default_factory=list)
    visits: list[dict[str, Any]] = field(default_factory=list)
    care_records: list[dict[str, Any]] = field(default_factory=list)
    uploads: list[dict[str, Any]] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)
    credentials: dict[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.feed_changes or self.visits or self.care_records or self.uploads or self.devices) and not (
            self.credentials
        )

    def summary(self) -> list[str]:
        """One line per kind of work lost (none when nothing is)."""
        lines = []
        if self.feed_changes or self.visits:
            carers = len({change["carer_id"] for change in self.feed_changes})
            lines.append(
                f"{len(self.visits)} visit(s) created or changed by the office after the backup "
                f"({len(self.feed_changes)} change(s) in {carers} carer feed(s)): enter them again"
            )
        if self.care_records or self.uploads:
            lines.append(
                f"{len(self.care_records)} care record(s) from {len(self.uploads)} device upload(s) received after "
                "the backup: their bodies are in the report; the devices will not send them again"
            )
        if self.devices:
            lines.append(f"{len(self.devices)} device(s) enrolled after the backup: enrol them again")
        if self.credentials:
            issued = ", ".join(f"{count} {kind}" for kind, count in self.credentials.items())
            lines.append(f"tokens issued after the backup no longer work ({issued})")
        return lines


def lost_work(current: Path, backup: Path) -> LostWork:
    """What ``current`` holds that ``backup`` does not (both SQLite files of caresync's schema)."""
    conn = sqlite3.connect(f"file:{current}", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("ATTACH DATABASE ? AS backup", (f"file:{backup}?mode=ro",))
        rows = {name: [dict(row) for row in conn.execute(query)] for name, query in _QUERIES.items()}
    finally:
        conn.close()
    return LostWork(
        feed_changes=rows["feed_changes"],
        moved_feeds=[MovedFeed(**row) for row in _moved(rows["moved_feeds"])],
        visits=rows["visits"],
        care_records=rows["care_records"],
        uploads=rows["uploads"],
        devices=rows["devices"],
        credentials={row["kind"]: int(row["issued"]) for row in rows["credentials"]},
    )


_QUERIES = {
    "feed_changes": FEED_CHANGES,
    "moved_feeds": MOVED_FEEDS,
    "visits": VISITS,
    "care_records": CARE_RECORDS,
    "uploads": UPLOADS,
    "devices": DEVICES,
    "credentials": CREDENTIALS,
}


def _moved(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "carer_id": row["carer_id"],
            "tenant_id": row["tenant_id"],
            "epoch": row["epoch"],
            "head": row["head_seq"],
            "backup_epoch": row["backup_epoch"],
            "backup_head": row["backup_head"],
        }
        for row in rows
    ]
