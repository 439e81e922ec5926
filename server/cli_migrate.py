"""``caresync migrate``: bring the schema to this release's head, or take it down (``--to``).

Nodes started with ``--migrate off`` leave the schema to this command (the compose
file's one-shot ``migrate`` service). ``--to REVISION`` undoes the revisions above
REVISION, newest first, in one transaction: a revision marked irreversible, an unknown
one, or one above the schema's is refused before anything runs (exit 1), and a downgrade
the data does not allow (a constraint the older schema had) rolls back whole (exit 1).
On PostgreSQL it holds the same lock as a migrating node, so it never runs beside one.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from server.cli_database import command_settings
from server.settings import add_flags
from server.store.database import Database
from server.store.revisions import SchemaChangeFailed, downgrade_sqlite, downgrade_to, revisions, schema_state
from server.tunables import MIGRATION_LOCK_ID


def add_commands(commands: Any) -> None:
    migrate = commands.add_parser(
        "migrate",
        help="bring the database schema up to date, or take it down to a revision (--to)",
        description="Bring the schema to this release's head (what a node started with --migrate auto does), "
        "or take it down to an earlier revision with --to.",
    )
    add_flags(migrate, ["database_url"])
    migrate.add_argument(
        "--to",
        default=None,
        metavar="REVISION",
        help=f"take the schema down to this revision (one of {', '.join(revisions())}); refused for a revision "
        "that cannot be undone",
    )
    migrate.set_defaults(run=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    settings = command_settings(args, may_create=args.to is None)
    if args.to is None:
        asyncio.run(_upgrade(settings.database_url))
        print("schema is up to date")
        return 0
    try:
        before, undone = asyncio.run(_downgrade(settings.database_url, args.to))
    except SchemaChangeFailed as exc:
        print(f"caresync: {exc}", file=sys.stderr)
        return 1
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        print(
            f"caresync: taking the schema down to {args.to} failed on the data and nothing was changed: {reason}",
            file=sys.stderr,
        )
        return 1
    if not undone:
        print(f"schema is at {args.to} already")
    else:
        print(f"schema taken down from {before} to {args.to} (undone: {', '.join(undone)})")
    return 0


async def _upgrade(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.migrate()
    finally:
        await db.close()


async def _downgrade(database_url: str, target: str) -> tuple[str | None, list[str]]:
    db = Database(database_url)
    try:
        if db.dialect == "sqlite":  # one process at a time holds a SQLite file's write lock
            async with db.engine.connect() as conn:
                before = (await conn.run_sync(schema_state)).current
                await conn.rollback()
                return before, await conn.run_sync(downgrade_sqlite, target)
        async with db.write() as conn:
            await conn.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
            before = (await conn.run_sync(schema_state)).current
            return before, await conn.run_sync(downgrade_to, target)
    finally:
        await db.close()
