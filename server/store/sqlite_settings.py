"""The settings every SQLite connection of a node runs with: the SQLAlchemy engine's and the
hot-write thread's alike (one definition, so the two can never disagree)."""

from __future__ import annotations

import sqlite3
from typing import Any

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)
"""WAL (readers never wait for the writer), a 10 s wait for a lock, foreign keys enforced,
and a sync at each checkpoint rather than each commit (safe with WAL)."""


def configure(conn: sqlite3.Connection | Any) -> None:
    """Apply :data:`PRAGMAS` to a new DB-API connection (sqlite3's, or the one SQLAlchemy wraps)."""
    cursor = conn.cursor()
    try:
        for pragma in PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()
