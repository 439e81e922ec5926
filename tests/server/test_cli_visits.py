"""``caresync visits export``: the export's rows on standard output or into a file that
appears only once complete; refusals are one line naming the flag."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from server.cli import main
from server.node import Node
from server.openapi.shapes import VisitVerificationExport
from server.seeding import SeededAgency, seed_agency
from server.settings import Settings


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[str, SeededAgency, str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    day = datetime.now(UTC) + timedelta(days=1)

    async def seed() -> SeededAgency:
        node = Node.build(Settings(database_url=url))
        await node.db.migrate()
        try:
            return await seed_agency(node, carers=2, visits_per_carer=2, day=day)
        finally:
            await node.db.close()

    return url, asyncio.run(seed()), day.date().isoformat()


def _export(url: str, agency: SeededAgency, day: str, *extra: str) -> list[str]:
    return ["visits", "export", "--database-url", url, "--tenant", agency.tenant_id, "--from", day, "--to", day,
            "--branch", agency.branch_id, *extra]  # fmt: skip


def test_csv_on_standard_output(
    seeded: tuple[str, SeededAgency, str], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    url, agency, day = seeded
    assert main(_export(url, agency, day)) == 0
    rows = list(csv.DictReader(io.StringIO(capsysbinary.readouterr().out.decode(), newline="")))
    assert len(rows) == 4
    assert {r["carer_name"] for r in rows} == {c.name for c in agency.carers}
    assert {r["date"] for r in rows} == {day}
    assert {r["services"] for r in rows} == {"Medication; Lunch; Personal care"}


def test_json_into_a_file(
    seeded: tuple[str, SeededAgency, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, agency, day = seeded
    target = tmp_path / "out" / "export.json"
    target.parent.mkdir()
    assert main(_export(url, agency, day, "--format", "json", "--output", str(target))) == 0
    assert capsys.readouterr().out.split() == ["rows=4", f"output={target}"]
    export = msgspec.json.decode(target.read_bytes(), type=VisitVerificationExport)
    assert (export.branch_id, len(export.visits)) == (agency.branch_id, 4)
    assert [p.name for p in target.parent.iterdir()] == ["export.json"], "no temporary file left"


def test_refusals_are_one_line_and_leave_no_file(
    seeded: tuple[str, SeededAgency, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, agency, day = seeded
    target = tmp_path / "never.csv"
    too_long = _export(url, agency, day, "--output", str(target))
    too_long[too_long.index("--to") + 1] = "2999-01-01"
    assert main(too_long) == 1
    assert capsys.readouterr().err.strip().startswith("error: to must be a date, YYYY-MM-DD, from 2000 to 2199")
    too_long[too_long.index("--to") + 1] = (datetime.fromisoformat(day) + timedelta(days=92)).date().isoformat()
    assert main(too_long) == 1
    assert capsys.readouterr().err.strip() == (
        "error: from..to covers 93 days; an export covers at most 92 days, both dates included: "
        "export a longer period in parts"
    )
    unknown = _export(url, agency, day)
    unknown[unknown.index("--branch") + 1] = "nope"
    assert main(unknown) == 1
    assert capsys.readouterr().err.strip() == "error: --branch names no branch of this tenant"
    assert not target.exists()
