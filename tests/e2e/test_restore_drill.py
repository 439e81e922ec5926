"""The restore drill (docs/operations.md, "Backup and restore"): back up a serving node,
go on working, stop it, restore the backup, start it again.

The phones end with exactly the restored rota: the feeds that went past the backup move
to a new epoch, so each phone is told ``reset`` and replays them (docs/protocol.md,
sections 2 and 3), even one the office's changes after the restore caught up with. What
the office and the carers did after the backup is lost from the store, not silently:
``caresync restore`` names it and its report lists every visit and care record.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from client_sdk import Device
from server.cli import main
from server.clock import to_datetime
from server.node import Node
from server.seeding import SeededAgency, SeededCarer, seed_agency
from server.settings import Settings
from tests import backing
from tests.conftest import RunningServer, start_server, stop_server
from tests.conftest import test_settings as settings_for
from tests.support import device_matches_server, eventually, make_device, server_visits

pytestmark = pytest.mark.e2e


async def _cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def _serve(settings: Settings, port: int = 0) -> RunningServer:
    return await start_server(Node.build(settings)) if not port else await _on_port(settings, port)


async def _on_port(settings: Settings, port: int) -> RunningServer:
    from server import embedded

    started = await embedded.start_server(Node.build(settings), port=port)
    return RunningServer(started.node, started.port, started.server, started.task)


async def _move(running: RunningServer, agency: SeededAgency, visit_id: str, hours: int) -> None:
    start = to_datetime(running.node.clock.now_ms()) + timedelta(hours=hours)
    await running.node.rota.reschedule(agency.admin, visit_id, start, start + timedelta(minutes=45))


def _report(folder: Path) -> dict[str, Any]:
    [path] = folder.glob("server.db.restore-*.json")
    report: dict[str, Any] = json.loads(path.read_text())
    return report


async def _level(device: Device, running: RunningServer, agency: SeededAgency, carer: SeededCarer) -> None:
    await eventually(lambda: device_matches_server(device, running.node, agency.admin, carer.id), timeout=20)


async def test_phones_converge_to_the_restored_rota_and_what_it_undid_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    url = settings.database_url
    backup = tmp_path / "nightly.db"
    running = await _serve(settings)
    port = running.port
    agency = await seed_agency(running.node, carers=2, visits_per_carer=3, day=to_datetime(running.node.clock.now_ms()))
    carer, away = agency.carers
    phone = await make_device(running, carer, tmp_path)
    away_phone = await make_device(running, away, tmp_path)
    restored: Device | None = None
    try:
        await _level(phone, running, agency, carer)
        await _level(away_phone, running, agency, away)

        # 1. Back up while the node serves both phones.
        assert await _cli("backup", str(backup), "--database-url", url) == 0
        at_backup = {c.id: await server_visits(running.node, agency.admin, c.id) for c in (carer, away)}

        # 2. The office goes on: both carers' rotas change and both phones take the changes;
        #    the connected carer checks in, which reaches the store.
        await _move(running, agency, carer.visit_ids[0], 3)
        await running.node.rota.cancel(agency.admin, carer.visit_ids[1])
        await _move(running, agency, away.visit_ids[0], 5)
        await _move(running, agency, away.visit_ids[1], 6)
        await _level(phone, running, agency, carer)
        await _level(away_phone, running, agency, away)
        phone.check_in(carer.id, carer.visit_ids[2])
        await phone.sync()
        assert phone.store.pending_count() == 0
        before_restore = {c: p.epoch for c, p in phone.positions().items()}
        ahead = away_phone.positions()[away.id]

        # 3. One phone is off when the node stops; the other keeps trying to reconnect.
        await away_phone.stop()
        await stop_server(running)

        # 4. Restore, with notice of what the backup lacks.
        capsys.readouterr()
        assert await _cli("restore", str(backup), "--database-url", url) == 0
        out = capsys.readouterr().out
        assert (
            "lost: 4 visit(s) created or changed by the office after the backup (4 change(s) in 2 carer feed(s))" in out
        )
        assert "lost: 1 care record(s) from 1 device upload(s) received after the backup" in out
        assert "2 carer feed(s) moved to a new epoch" in out
        report = _report(tmp_path)
        lost = report["lost"]
        assert sorted(v["id"] for v in lost["visits"]) == sorted(
            [carer.visit_ids[0], carer.visit_ids[1], away.visit_ids[0], away.visit_ids[1]]
        )
        assert [(r["visit_id"], r["kind"]) for r in lost["care_records"]] == [(carer.visit_ids[2], "check_in")]
        assert json.loads(lost["care_records"][0]["payload"])
        assert report["replaced_database_kept_as"].startswith(f"{tmp_path / 'server.db'}.replaced-")

        # 5. The node starts again on the restored database, on the same address.
        running = await _serve(settings, port)
        assert await server_visits(running.node, agency.admin, carer.id) == at_backup[carer.id]
        assert await server_visits(running.node, agency.admin, away.id) == at_backup[away.id]

        # The connected phone is told to reset and replays the restored rota.
        await _level(phone, running, agency, carer)
        assert phone.visits(carer.id) == at_backup[carer.id]
        assert phone.positions()[carer.id].epoch > before_restore[carer.id]

        # The office works on before the other phone is back, as many changes as the
        # restore undid: its position is the feed's head again, yet it is not in sync.
        await _move(running, agency, away.visit_ids[2], 8)
        await _move(running, agency, away.visit_ids[2], 9)
        restored = await make_device(running, away, tmp_path, start=False)
        assert restored.positions()[away.id] == ahead
        await restored.start()
        await _level(restored, running, agency, away)
        assert restored.positions()[away.id].epoch > ahead.epoch
        assert restored.welcome is not None
        assert [f.action for f in restored.welcome.feeds if f.feed == away.id] == ["reset"]
    finally:
        await phone.stop()
        if restored is not None:
            await restored.stop()
        await stop_server(running)


def _pg_tool(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


async def test_a_postgresql_restore_with_pg_restore_then_new_epochs(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The runbook's PostgreSQL commands: pg_dump while serving, pg_restore with the node
    stopped, then ``caresync restore --new-epochs``."""
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        backing.require_or_skip("pg_dump and pg_restore are not installed")
    settings = settings_for(tmp_path, database_url=postgres_url)
    dump = tmp_path / "nightly.dump"
    running = await _serve(settings)
    port = running.port
    agency = await seed_agency(running.node, carers=1, visits_per_carer=3, day=to_datetime(running.node.clock.now_ms()))
    [carer] = agency.carers
    phone = await make_device(running, carer, tmp_path)
    try:
        await _level(phone, running, agency, carer)
        await asyncio.to_thread(_pg_tool, "pg_dump", "--format=custom", f"--file={dump}", postgres_url)
        at_backup = await server_visits(running.node, agency.admin, carer.id)
        await _move(running, agency, carer.visit_ids[0], 4)
        await _level(phone, running, agency, carer)
        before = phone.positions()[carer.id]
        await stop_server(running)

        await asyncio.to_thread(
            _pg_tool, "pg_restore", "--clean", "--if-exists", "--no-owner", f"--dbname={postgres_url}", str(dump)
        )
        capsys.readouterr()
        assert await _cli("restore", "--new-epochs", "--database-url", postgres_url) == 0
        assert capsys.readouterr().out.startswith("1 carer feed(s) moved to a new epoch")

        running = await _serve(settings, port)
        assert await server_visits(running.node, agency.admin, carer.id) == at_backup
        await _level(phone, running, agency, carer)
        assert phone.visits(carer.id) == at_backup
        assert phone.positions()[carer.id].epoch == before.epoch + 1
    finally:
        await phone.stop()
        await stop_server(running)


async def test_new_epochs_are_refused_while_a_node_serves(postgres_url: str, tmp_path: Path) -> None:
    running = await _serve(settings_for(tmp_path, database_url=postgres_url))
    try:
        assert await _cli("restore", "--new-epochs", "--database-url", postgres_url) == 1
    finally:
        await stop_server(running)
