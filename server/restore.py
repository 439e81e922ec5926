"""Putting a SQLite backup back in place of a node's database, with notice of what it undoes.

``caresync restore BACKUP`` (the node stopped):

1. checks the backup is an intact SQLite database and that no node is alive on the
   database (a row in the cluster's node table touched in the last 15 s);
2. lists what the database holds that the backup does not (:mod:`server.store.restore_diff`:
   rota changes, visits, care records and uploads, enrolments, tokens) and writes it to a
   JSON report beside the database, care records with their bodies: nothing the office or
   the carers did after the backup goes without notice;
3. keeps the database it replaces (an online copy named ``….replaced-<time>``), then copies
   the backup into place and brings its schema to this release's head;
4. moves each carer feed that went past the backup to a new epoch, above any epoch the
   replaced database had, replaying the carer's visits as restored
   (:class:`~server.services.feed_reset.FeedResetService`). A phone holding that feed
   is told ``reset`` at its next ``welcome`` (docs/protocol.md, sections 2 and 3), drops
   its copy and replays the restored visits; without the new epoch, a phone whose
   position the office's next changes caught up with would take changes it never saw as
   the ones it holds. With no database to compare (it was lost), every feed moves.

After a restore made another way (PostgreSQL's ``pg_restore``, point-in-time recovery),
``caresync restore --new-epochs`` does step 4 for every feed (:func:`move_every_feed`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from server.bus.memory import MemoryBus
from server.clock import SystemClock
from server.cluster.presence import DEAD_AFTER_MS, live_node
from server.schema_policy import apply_migrate_policy
from server.services.feed_reset import FeedResetService
from server.services.identity import Staff
from server.store.database import Database
from server.store.restore_diff import LostWork, MovedFeed, lost_work
from server.store.schema import feeds, nodes, users
from server.store.sqlite_backup import check_database_file, online_copy, remove_database_files


class RestoreRefused(Exception):
    """The restore cannot run; ``str()`` says why and nothing was changed."""


@dataclass(frozen=True)
class NewEpoch:
    carer_id: str
    epoch: int
    head: int


@dataclass
class RestoreDone:
    database: Path
    lost: LostWork | None
    """None when there was no database to compare with."""
    kept: Path | None
    report: Path
    new_epochs: list[NewEpoch]


async def restore_sqlite(database: Path, backup: Path, now: datetime | None = None) -> RestoreDone:
    """Replace ``database`` by ``backup`` as described above; raise :class:`RestoreRefused`."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    lost, kept = await asyncio.to_thread(_replace, database, backup, stamp)
    new_epochs = await _move_feeds(f"sqlite:///{database}", None if lost is None else lost.moved_feeds)
    report = database.with_name(f"{database.name}.restore-{stamp}.json")
    body = json.dumps(_report(database, backup, kept, lost, new_epochs, stamp), indent=2) + "\n"
    await asyncio.to_thread(report.write_text, body)
    return RestoreDone(database=database, lost=lost, kept=kept, report=report, new_epochs=new_epochs)


def _replace(database: Path, backup: Path, stamp: str) -> tuple[LostWork | None, Path | None]:
    """Steps 1 to 3 (files only): what is lost (None: no database) and where the replaced one is kept."""
    if not backup.is_file():
        raise RestoreRefused(f"no backup at {backup}")
    check_database_file(backup)
    lost: LostWork | None = None
    kept: Path | None = None
    if database.exists():
        _refuse_if_served(database)
        lost = lost_work(database, backup)
        kept = database.with_name(f"{database.name}.replaced-{stamp}")
        online_copy(database, kept)
    remove_database_files(database)
    online_copy(backup, database)
    return lost, kept


def _refuse_if_served(database: Path) -> None:
    now_ms = int(time.time() * 1000)
    conn = sqlite3.connect(database)
    try:
        alive = conn.execute(
            "SELECT id, last_seen_at FROM nodes WHERE last_seen_at >= ? ORDER BY id", (now_ms - DEAD_AFTER_MS,)
        ).fetchall()
    except sqlite3.OperationalError:  # no cluster table: nothing ever served it
        alive = []
    finally:
        conn.close()
    if alive:
        names = ", ".join(f"{node_id} ({(now_ms - seen) / 1000:.0f} s ago)" for node_id, seen in alive)
        raise RestoreRefused(
            f"a node is serving {database}: {names} touched the cluster table; stop it first (a node that was "
            f"killed rather than stopped counts as alive for {DEAD_AFTER_MS // 1000} s)"
        )


async def move_every_feed(url: str) -> list[NewEpoch]:
    """After a restore by other means (``pg_restore``, a file copied back): move every carer
    feed to a new epoch, so every phone replays the restored rota; refused while anything
    else is connected to the PostgreSQL database (a node, a psql) or, on SQLite, while a
    node is alive in the cluster table."""
    db = Database(url)
    try:
        busy = await _others_connected(db) if db.dialect == "postgresql" else await _nodes_alive(db)
    finally:
        await db.close()
    if busy:
        raise RestoreRefused(
            f"{busy}: stop every node first (a node that was killed rather than stopped counts as alive for "
            f"{DEAD_AFTER_MS // 1000} s)"
        )
    return await _move_feeds(url, None)


async def _others_connected(db: Database) -> str | None:
    async with db.read() as conn:
        others = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
            )
        ).scalar_one()
    return f"{others} other connection(s) to this database are open" if others else None


async def _nodes_alive(db: Database) -> str | None:
    try:
        async with db.read() as conn:
            alive = [row.id for row in await conn.execute(select(nodes.c.id).where(live_node(SystemClock().now_ms())))]
    except DBAPIError:  # no cluster table: nothing ever served it
        return None
    return f"node(s) {', '.join(sorted(alive))} are serving this database" if alive else None


async def _move_feeds(url: str, moved: list[MovedFeed] | None) -> list[NewEpoch]:
    """Migrate the restored database, then give each feed that went past the backup (every
    feed when ``moved`` is None) an epoch above any it had."""
    db = Database(url)
    clock = SystemClock()
    resets = FeedResetService(db, MemoryBus(), clock)
    done = []
    try:
        await apply_migrate_policy(db, "auto")
        async with db.read() as conn:
            admins = {row.tenant_id: row.id for row in await conn.execute(select(users).where(users.c.role == "admin"))}
            targets = (
                [(row.carer_id, row.tenant_id, row.epoch) for row in await conn.execute(select(feeds))]
                if moved is None
                else [(feed.carer_id, feed.tenant_id, max(feed.epoch, feed.backup_epoch)) for feed in moved]
            )
        for carer_id, tenant_id, above in targets:
            admin = admins.get(tenant_id)
            if admin is None:
                continue
            async with db.write() as conn:
                await conn.execute(
                    update(feeds).where(feeds.c.carer_id == carer_id, feeds.c.epoch < above).values(epoch=above)
                )
            reset = await resets.reset(Staff(admin, tenant_id, "admin", None), carer_id)
            done.append(NewEpoch(carer_id=reset.carer_id, epoch=reset.epoch, head=reset.head))
    finally:
        await db.close()
    return done


def _report(
    database: Path, backup: Path, kept: Path | None, lost: LostWork | None, new_epochs: list[NewEpoch], stamp: str
) -> dict[str, Any]:
    return {
        "restored_at": stamp,
        "database": str(database),
        "backup": str(backup),
        "replaced_database_kept_as": None if kept is None else str(kept),
        "compared": lost is not None,
        "lost": None
        if lost is None
        else {
            "summary": lost.summary(),
            "feed_changes": lost.feed_changes,
            "visits": lost.visits,
            "care_records": lost.care_records,
            "uploads": lost.uploads,
            "devices": lost.devices,
            "credentials": lost.credentials,
        },
        "new_epochs": [dataclasses.asdict(epoch) for epoch in new_epochs],
    }
