"""Taking the schema down (``caresync migrate --to``) on each store, and what is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Connection

from server.cli import main
from server.node import Node
from server.settings import Settings
from server.store import revisions
from server.store.database import Database
from server.store.revisions import DowngradeRefused, downgrade_steps, schema_state
from server.store.schema import metadata, users

HEAD = revisions.revisions()[-1]


def _diff(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), metadata))


async def _cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def _revision(url: str) -> str | None:
    db = Database(url)
    try:
        async with db.read() as conn:
            return (await conn.run_sync(schema_state)).current
    finally:
        await db.close()


async def _two_tenants(url: str, tmp_path: Path) -> None:
    """Two agencies, each with its admin (rows in the tables a downgrade copies)."""
    node = Node.build(Settings(database_url=url))
    await node.db.migrate()
    try:
        for name in ("Sunrise", "Moonrise"):
            await node.directory.create_tenant(name)
    finally:
        await node.db.close()


async def test_a_populated_schema_goes_down_and_up_again(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _two_tenants(database_url, tmp_path)
    assert await _cli("migrate", "--to", "0005", "--database-url", database_url) == 0
    undone = ", ".join(reversed(revisions.revisions()[5:]))
    assert capsys.readouterr().out.strip() == f"schema taken down from {HEAD} to 0005 (undone: {undone})"
    assert await _revision(database_url) == "0005"
    assert await _cli("migrate", "--database-url", database_url) == 0
    db = Database(database_url)
    try:
        async with db.read() as conn:
            assert await conn.run_sync(_diff) == []
            assert (await conn.execute(select(func.count()).select_from(users))).scalar_one() == 2
    finally:
        await db.close()


async def test_a_downgrade_the_data_does_not_allow_changes_nothing(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before 0006 a login was unique across every agency: two agencies' admins sharing one
    cannot go back there."""
    await _two_tenants(database_url, tmp_path)
    db = Database(database_url)
    try:
        async with db.write() as conn:
            await conn.execute(update(users).values(login="office"))
    finally:
        await db.close()
    assert await _cli("migrate", "--to", "0005", "--database-url", database_url) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("caresync: taking the schema down to 0005 failed on the data and nothing was changed: ")
    assert len(err.splitlines()) == 1
    assert await _revision(database_url) == HEAD
    db = Database(database_url)
    try:
        async with db.read() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await db.close()


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("0042", "unknown revision '0042'; this release knows 0001, "),
        ("base", "--to needs a revision name"),
        ("-1", "--to needs a revision name"),
    ],
)
def test_a_target_that_is_no_revision_is_refused(target: str, reason: str) -> None:
    with pytest.raises(DowngradeRefused, match=f"^{reason}"):
        downgrade_steps(HEAD, target)


def test_going_up_or_from_an_unknown_revision_is_not_a_downgrade() -> None:
    with pytest.raises(DowngradeRefused, match="the schema is at 0003, below 0007: --to only goes down"):
        downgrade_steps("0003", "0007")
    with pytest.raises(DowngradeRefused, match="a revision this release does not know"):
        downgrade_steps("0099", "0007")
    with pytest.raises(DowngradeRefused, match="no schema"):
        downgrade_steps(None, "0007")
    assert downgrade_steps("0007", "0007") == []
    assert [step.revision for step in downgrade_steps("0009", "0007")] == ["0009", "0008"]


def test_a_revision_marked_irreversible_is_refused_before_anything_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    directory = ScriptDirectory.from_config(revisions.alembic_config())
    marked = directory.get_revision("0008")
    assert marked is not None
    monkeypatch.setattr(marked.module, "irreversible", "its data cannot be rebuilt", raising=False)
    monkeypatch.setattr(revisions, "scripts", lambda: directory)
    with pytest.raises(DowngradeRefused, match=r"^revision 0008 cannot be undone: its data cannot be rebuilt$"):
        downgrade_steps("0009", "0007")
    assert [step.revision for step in downgrade_steps("0009", "0008")] == ["0009"]


async def test_the_command_refuses_without_touching_the_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    assert await _cli("migrate", "--database-url", url) == 0
    capsys.readouterr()
    assert await _cli("migrate", "--to", "base", "--database-url", url) == 1
    assert "to drop the whole schema, drop the database" in capsys.readouterr().err
    assert await _revision(url) == HEAD
    db = Database(url)
    try:
        async with db.read() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM tenants"))).scalar_one() == 0
    finally:
        await db.close()


def test_migrate_to_refuses_a_database_file_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.db"
    assert main(["migrate", "--to", "0007", "--database-url", f"sqlite:///{missing}"]) == 2
    assert "no database at" in capsys.readouterr().err
    assert not missing.exists()
