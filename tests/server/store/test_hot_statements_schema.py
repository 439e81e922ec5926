"""Every hot statement (the rota's plain SQL, :mod:`server.store.hot.steps`) names only tables and
columns that ``server/store/schema.py`` defines.

The statements are the ones a node really runs: every rota operation is played through the
node's services, each statement its steps yield is recorded, then prepared (``EXPLAIN``) on
an empty SQLite database built from ``schema.py`` alone (not from the migrations), where an
unknown table or column is an error."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from server.node import Node
from server.seeding import seed_agency
from server.services.rota_steps import NewTask
from server.store.hot import sqlite_writer
from server.store.hot.steps import Rows, Statement, Steps, T, run_on_sqlite
from server.store.schema import metadata
from tests import conftest


def schema_database() -> sqlite3.Connection:
    """An empty in-memory SQLite database with exactly the tables and columns of schema.py."""
    conn = sqlite3.connect(":memory:")
    dialect = sqlite_dialect.dialect()
    for table in metadata.sorted_tables:
        conn.execute(str(CreateTable(table).compile(dialect=dialect)))
        for index in table.indexes:
            conn.execute(str(CreateIndex(index).compile(dialect=dialect)))
    return conn


def refusal(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> str | None:
    """Why ``sql`` cannot be prepared against schema.py's tables (None: it can)."""
    try:
        conn.execute("EXPLAIN " + sql, params)
    except sqlite3.Error as exc:
        return str(exc)
    return None


def test_a_statement_naming_an_unknown_column_or_table_is_refused() -> None:
    conn = schema_database()
    assert refusal(conn, "UPDATE feeds SET head_seq = head_seq + 1 WHERE carer_id = ?", ("k",)) is None
    assert "no such column" in str(refusal(conn, "UPDATE feeds SET head_sequence = 1 WHERE carer_id = ?", ("k",)))
    assert "no such table" in str(refusal(conn, "SELECT id FROM visit WHERE id = ?", ("v",)))


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[Statement]:
    """Every statement the SQLite writer runs for a hot write, in order."""
    seen: list[Statement] = []
    run = run_on_sqlite

    def recording(conn: sqlite3.Connection, steps: Steps[T]) -> T:
        def spied() -> Steps[T]:
            rows: Rows | None = None
            try:
                while True:
                    statement = steps.send(rows)  # type: ignore[arg-type]
                    seen.append(statement)
                    rows = yield statement
            except StopIteration as done:
                result: T = done.value
                return result

        return run(conn, spied())

    monkeypatch.setattr(sqlite_writer, "run_on_sqlite", recording)
    return seen


async def test_every_hot_statement_a_node_runs_fits_schema_py(tmp_path: Path, recorded: list[Statement]) -> None:
    node = Node.build(conftest.test_settings(tmp_path))
    await node.start()
    try:
        agency = await seed_agency(node, carers=2, clients=1, visits_per_carer=1)
        admin, token, rota = agency.admin, agency.admin_token, node.rota
        first, second = agency.carers
        visit = await rota.get_visit(admin, first.visit_ids[0])
        later = timedelta(minutes=30)
        await rota.reschedule(admin, visit.id, visit.starts_at + later, visit.ends_at + later)
        await rota.reschedule_by_token(token, visit.id, visit.starts_at, visit.ends_at)
        await rota.update_notes_by_token(token, visit.id, "side door")
        await rota.reassign(admin, visit.id, [first.id, second.id])
        await rota.reassign_by_token(token, visit.id, [second.id])
        _staff, added = await rota.add_task_by_token(token, visit.id, "Medication")
        task = added.tasks[-1]
        await rota.change_task_by_token(token, visit.id, task.id, title="Medication (morning)", removed=None)
        await rota.change_task_by_token(token, visit.id, task.id, title=None, removed=True)
        await rota.cancel(admin, visit.id)
        await rota.reinstate(admin, visit.id)
        await rota.cancel_by_token(token, visit.id)
        starts = visit.starts_at + timedelta(days=1)
        client = agency.client_ids[0]
        await rota.create_visit(
            admin, client_id=client, starts_at=starts, ends_at=starts + later, carer_ids=[first.id],
            tasks_=[NewTask("Shopping")],
        )  # fmt: skip
        await rota.create_visit_by_token(
            token, client_id=client, starts_at=starts + later, ends_at=starts + 2 * later, carer_ids=[second.id],
            tasks_=[NewTask("Walk")],
        )  # fmt: skip
    finally:
        await node.stop()

    statements = {sql: params for sql, params in recorded}
    assert len(statements) >= 15, sorted(statements)
    conn = schema_database()
    refused = {sql: why for sql, params in statements.items() if (why := refusal(conn, sql, params))}
    assert refused == {}
