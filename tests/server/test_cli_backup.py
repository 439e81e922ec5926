"""``caresync backup`` copies a SQLite database while its node writes; PostgreSQL is
pointed at pg_dump and pg_restore."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from server.cli import main
from server.clock import to_datetime
from server.node import Node
from server.seeding import seed_agency
from server.store.revisions import revisions
from tests.conftest import start_server, stop_server
from tests.conftest import test_settings as settings_for


async def _cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


def _feeds_whole(path: Path) -> list[tuple[str, int, int]]:
    """Each feed's head against its entries in the copy: one snapshot holds both."""
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT f.carer_id, f.head_seq, (SELECT max(seq) FROM feed_entries e WHERE e.carer_id = f.carer_id "
            "AND e.epoch = f.epoch) FROM feeds f"
        ).fetchall()


def _leftovers(folder: Path, pattern: str) -> list[str]:
    return sorted(path.name for path in folder.glob(pattern))


async def test_a_backup_taken_while_the_node_writes_is_whole_and_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    running = await start_server(Node.build(settings))
    node = running.node
    try:
        agency = await seed_agency(node, carers=2, visits_per_carer=3, day=to_datetime(node.clock.now_ms()))
        carer = agency.carers[0]
        writing = True

        async def office() -> int:
            moves = 0
            start = to_datetime(node.clock.now_ms())
            while writing:
                moves += 1
                at = start + timedelta(minutes=moves)
                await node.rota.reschedule(agency.admin, carer.visit_ids[moves % 3], at, at + timedelta(minutes=30))
            return moves

        changes = asyncio.create_task(office())
        copies = [tmp_path / f"backup-{i}.db" for i in range(3)]
        for copy in copies:
            assert await _cli("backup", str(copy), "--database-url", settings.database_url) == 0
        writing = False
        assert await changes > 0
    finally:
        await stop_server(running)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"backed up {tmp_path / 'server.db'} to {copies[0]} (")
    for copy in copies:
        with sqlite3.connect(copy) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
            assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (revisions()[-1],)
        heads = _feeds_whole(copy)
        assert len(heads) == 2 and all(head == (top or 0) for _, head, top in heads)
    assert _leftovers(tmp_path, "*.partial") == []


async def test_a_backup_never_overwrites_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    assert await _cli("migrate", "--database-url", url) == 0
    taken = tmp_path / "taken.db"
    taken.write_text("keep me")
    assert await _cli("backup", str(taken), "--database-url", url) == 2
    assert capsys.readouterr().err.strip() == f"caresync: {taken} exists; name a new file"
    assert taken.read_text() == "keep me"


def test_a_backup_of_no_database_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.db"
    assert main(["backup", str(tmp_path / "b.db"), "--database-url", f"sqlite:///{missing}"]) == 2
    assert "no database at" in capsys.readouterr().err
    assert not missing.exists()


def test_postgresql_is_pointed_at_pg_dump_and_pg_restore(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+asyncpg://caresync:s3cret@db.internal:5432/caresync"
    assert main(["backup", "nightly.dump", "--database-url", url]) == 2
    err = capsys.readouterr().err.strip()
    assert "pg_dump --format=custom --file=nightly.dump 'postgresql://caresync:***@db.internal:5432/caresync'" in err
    assert "s3cret" not in err
    assert main(["restore", "nightly.dump", "--database-url", url]) == 2
    err = capsys.readouterr().err.strip()
    assert "pg_restore --clean --if-exists --no-owner" in err
    assert "then caresync restore --new-epochs" in err
    assert "s3cret" not in err


async def test_restore_refuses_while_a_node_serves_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    backup = tmp_path / "backup.db"
    running = await start_server(Node.build(settings))
    try:
        assert await _cli("backup", str(backup), "--database-url", settings.database_url) == 0
        assert await _cli("restore", str(backup), "--database-url", settings.database_url) == 1
    finally:
        await stop_server(running)
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"caresync: a node is serving {tmp_path / 'server.db'}: {running.node.node_id} (")
    assert "stop it first" in err
    assert _leftovers(tmp_path, "server.db.*") == []


def test_restore_needs_a_backup_or_new_epochs_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    assert main(["restore", "--database-url", url]) == 2
    assert "name the backup to restore (or --new-epochs after a pg_restore)" in capsys.readouterr().err
    assert main(["restore", "b.db", "--new-epochs", "--database-url", url]) == 2
    assert "--new-epochs is for a database restored another way" in capsys.readouterr().err
