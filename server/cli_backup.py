"""``caresync backup`` and ``caresync restore``: the embedded SQLite store's copies.

``backup PATH`` copies the database with SQLite's online backup API while the node runs
and writes (docs/operations.md, "Backup and restore"). ``restore BACKUP`` puts a copy
back with the node stopped, listing what it undoes (:mod:`server.restore`). On
PostgreSQL both refuse and print the ``pg_dump`` or ``pg_restore`` command to use
instead: the server's own tools copy a live cluster consistently and restore in parallel.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from pathlib import Path
from typing import Any

from server.cli_database import CommandError, command_settings, sqlite_file
from server.restore import RestoreRefused, move_every_feed, restore_sqlite
from server.settings import add_flags, redact_url
from server.store.sqlite_backup import BackupFailed, online_copy


def add_commands(commands: Any) -> None:
    backup = commands.add_parser(
        "backup",
        help="copy the SQLite database to a file, safe while the node runs (PostgreSQL: prints the pg_dump command)",
    )
    add_flags(backup, ["database_url"])
    backup.add_argument("path", help="the file to write (must not exist)")
    backup.set_defaults(run=_backup)

    restore = commands.add_parser(
        "restore",
        help="put a SQLite backup back in place of the database, the node stopped; lists what the backup lacks "
        "(PostgreSQL: prints the pg_restore command)",
    )
    add_flags(restore, ["database_url"])
    restore.add_argument("backup", nargs="?", help="a file written by caresync backup")
    restore.add_argument(
        "--new-epochs",
        action="store_true",
        help="after a restore made another way (pg_restore, point-in-time recovery), move every carer feed to a new "
        "epoch so every phone replays the restored rota (every node stopped)",
    )
    restore.set_defaults(run=_restore)


def _postgresql_url(url: str) -> str:
    """The URL as libpq's tools take it (no SQLAlchemy driver name), password hidden."""
    scheme, rest = url.split("://", 1)
    return redact_url(f"{scheme.split('+', 1)[0]}://{rest}")


def _backup(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    database = sqlite_file(settings.database_url)
    if database is None:
        url = shlex.quote(_postgresql_url(settings.database_url))
        raise CommandError(
            "caresync backup copies the embedded SQLite store; for PostgreSQL use its own tool, e.g. "
            f"pg_dump --format=custom --file={shlex.quote(args.path)} {url} "
            "(docs/operations.md, 'Backup and restore')"
        )
    target = Path(args.path)
    if target.exists():
        raise CommandError(f"{target} exists; name a new file")
    try:
        size = online_copy(database, target)
    except BackupFailed as exc:
        print(f"caresync: {exc}", file=sys.stderr)
        return 1
    print(f"backed up {database} to {target} ({size} bytes)")
    return 0


def _restore(args: argparse.Namespace) -> int:
    if args.new_epochs:
        if args.backup is not None:
            raise CommandError("--new-epochs is for a database restored another way: name no backup with it")
        return _new_epochs(args)
    if args.backup is None:
        raise CommandError("name the backup to restore (or --new-epochs after a pg_restore)")
    settings = command_settings(args, may_create=True)
    database = sqlite_file(settings.database_url)
    if database is None:
        url = shlex.quote(_postgresql_url(settings.database_url))
        raise CommandError(
            "caresync restore puts back an embedded SQLite backup; for PostgreSQL use its own tool, with every node "
            f"stopped, e.g. pg_restore --clean --if-exists --no-owner --dbname={url} {shlex.quote(args.backup)}, "
            "then caresync restore --new-epochs (docs/operations.md, 'Backup and restore')"
        )
    try:
        done = asyncio.run(restore_sqlite(database, Path(args.backup)))
    except (RestoreRefused, BackupFailed) as exc:
        print(f"caresync: {exc}", file=sys.stderr)
        return 1
    print(f"restored {done.database} from {args.backup}")
    if done.kept is not None:
        print(f"the replaced database is kept as {done.kept}")
    if done.lost is None:
        print("there was no database to compare with: what was done after the backup is unknown; every feed moved")
    elif done.lost.empty:
        print("nothing was done after the backup: nothing is lost")
    for line in done.lost.summary() if done.lost is not None else []:
        print(f"lost: {line}")
    if done.new_epochs:
        print(
            f"{len(done.new_epochs)} carer feed(s) moved to a new epoch: their phones drop their copy and replay "
            "the restored visits"
        )
    print(f"report: {done.report}")
    return 0


def _new_epochs(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    try:
        moved = asyncio.run(move_every_feed(settings.database_url))
    except RestoreRefused as exc:
        print(f"caresync: {exc}", file=sys.stderr)
        return 1
    print(
        f"{len(moved)} carer feed(s) moved to a new epoch: their phones drop their copy and replay the restored visits"
    )
    return 0
