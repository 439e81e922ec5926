"""Copying a SQLite database with SQLite's online backup API, safe while a node writes to it.

The copy reads one consistent snapshot of the database (the node's WAL mode lets its
writers go on meanwhile) and is written beside its destination first, checked with
``PRAGMA quick_check``, then renamed into place: a destination either holds a whole,
checked copy or is untouched. The copy has no ``-wal`` file of its own: every committed
transaction is in the one file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

BUSY_TIMEOUT_MS = 10_000


class BackupFailed(Exception):
    """The copy could not be made or did not check out; ``str()`` says why."""


def online_copy(source: Path, destination: Path) -> int:
    """Copy the database at ``source`` to ``destination`` (which must not exist); its size in bytes."""
    partial = destination.with_name(destination.name + ".partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    try:
        if not source.is_file():
            raise FileNotFoundError(f"no database at {source}")
        src = sqlite3.connect(source, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)  # all pages in one step: one snapshot, never restarted by a write
                dst.execute("PRAGMA journal_mode=DELETE")
                _check(dst)
            finally:
                dst.close()
        finally:
            src.close()
        os.replace(partial, destination)
    except (sqlite3.Error, OSError) as exc:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise BackupFailed(f"cannot copy {source} to {destination}: {exc}") from exc
    return destination.stat().st_size


def check_database_file(path: Path) -> None:
    """Raise :class:`BackupFailed` unless ``path`` is a readable, intact SQLite database."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            _check(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackupFailed(f"{path} is not a SQLite database: {exc}") from exc


def _check(conn: sqlite3.Connection) -> None:
    verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
    if verdict != "ok":
        raise BackupFailed(f"the copy failed its check: {verdict}")


def remove_database_files(path: Path) -> None:
    """Remove a database file with its ``-wal`` and ``-shm`` (the node must be stopped)."""
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()
