"""Property-based fuzzing of the device upload path over both transports, on both stores.

Whatever a device sends in a ``sync_request`` (malformed times, numbers beyond 64 bits,
deep nesting, unicode, NUL characters, wrong types anywhere), the socket answers a
``sync_response`` or an ``error`` frame and stays open, the HTTP fallback answers JSON
with a documented status (never 500), and the server logs no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.frames import Error, SyncResponse
from server.node import Node
from server.seeding import SeededAgency, seed_agency
from tests import backing, conftest
from tests.conftest import RunningServer, start_server, stop_server
from tests.protocol.test_codec_fuzz import WEIRD, _paths, _replace
from tests.support import RawDevice

CARER, VISIT, TASK = "$carer", "$visit", "$task"
NOW = "2026-11-28T10:00:00Z"


def _mutation(kind: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "mutation_id": 1, "carer_id": CARER, "visit_id": VISIT, "captured_at": NOW, **extra}


_UPLOAD = {"type": "sync_request", "request_id": "r"}
UPLOADS: list[dict[str, Any]] = [
    {**_UPLOAD, "mutations": [_mutation("check_in", {"location": {"lat": 1, "lon": 2}})]},
    {**_UPLOAD, "mutations": [_mutation("check_out", {})]},
    {**_UPLOAD, "mutations": [_mutation("task_outcome", {"task_id": TASK, "done": False, "reason": "x"})]},
    {**_UPLOAD, "mutations": [_mutation("visit_note", {"text": "hello"})]},
    {**_UPLOAD, "mutations": [_mutation("form_submission", {"form": "f", "data": {"a": [1]}})]},
    {**_UPLOAD, "positions": [{"feed": CARER, "epoch": 1, "seq": 0}], "page_size": 5},
]


@st.composite
def uploads(draw: st.DrawFn) -> str:
    """An upload with one field replaced by a weird value (ids stay placeholders)."""
    skeleton = draw(st.sampled_from(UPLOADS))
    path = draw(st.sampled_from(_paths(skeleton)))
    mutated = _replace(skeleton, path, draw(WEIRD))
    if isinstance(mutated.get("mutations"), list):
        for index, item in enumerate(mutated["mutations"]):
            if isinstance(item, dict) and isinstance(item.get("mutation_id"), int):
                item["mutation_id"] = draw(st.integers(1, 2**63 - 1)) if index else item["mutation_id"]
    return json.dumps(mutated, allow_nan=True)


class _Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _fill(text: str, agency: SeededAgency, mutation_id: int) -> str:
    carer = agency.carers[0]
    text = text.replace(CARER, carer.id).replace(VISIT, carer.visit_ids[0]).replace(TASK, "no-such-task")
    return text.replace('"mutation_id": 1,', f'"mutation_id": {mutation_id},')


async def _exercise(running: RunningServer, agency: SeededAgency, bodies: list[tuple[str, int]]) -> None:
    carer = agency.carers[0]
    raw = await RawDevice.connect(running)
    try:
        await raw.hello(carer)
        async with running.http(carer.device_token) as http:
            for body, mutation_id in bodies:
                await raw.send_text(_fill(body, agency, mutation_id - 1))
                answer = await raw.receive_until((SyncResponse, Error))
                assert isinstance(answer, (SyncResponse, Error))
                if isinstance(answer, Error):
                    assert answer.code != "internal_error", answer
                response = await http.post("/api/v1/device/sync", content=_fill(body, agency, mutation_id))
                assert response.status_code in (200, 413, 422), (response.status_code, response.text, body)
                assert response.headers["content-type"] == "application/json"
                response.json()
        assert raw.ws.close_code is None, "the socket was closed"
    finally:
        await raw.close()


class _ServedInAThread:
    """One server (and its seeded agency) on its own event loop in a thread, so that
    hypothesis can throw hundreds of examples at it without a start-up per example."""

    def __init__(self, workdir: Path, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.running: RunningServer = self._call(
            start_server(Node.build(conftest.test_settings(workdir, database_url=database_url)))
        )
        self.agency: SeededAgency = self._call(seed_agency(self.running.node, carers=1))

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def stop(self) -> None:
        self._call(stop_server(self.running))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextlib.contextmanager
def _served(database_url: str | None) -> Iterator[_ServedInAThread]:
    catcher = _Tracebacks()
    logging.getLogger().addHandler(catcher)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            served = _ServedInAThread(Path(workdir), database_url or f"sqlite:///{Path(workdir) / 'server.db'}")
            try:
                yield served
            finally:
                served.stop()
    finally:
        logging.getLogger().removeHandler(catcher)
    assert not catcher.records, [r.getMessage() for r in catcher.records]


_mutation_ids = itertools.count(1)


def _fuzz(served: _ServedInAThread, bodies: list[str]) -> None:
    numbered = [(body, next(_mutation_ids) * 2) for body in bodies]
    asyncio.run(_exercise(served.running, served.agency, numbered))


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def test_uploads_never_crash_on_sqlite() -> None:
    with _served(None) as served:

        @FUZZ
        @given(bodies=st.lists(uploads(), min_size=1, max_size=8))
        def fuzz(bodies: list[str]) -> None:
            _fuzz(served, bodies)

        fuzz()


def test_uploads_never_crash_on_postgresql() -> None:
    admin = os.environ.get("CARESYNC_TEST_POSTGRES_URL")
    if not admin:
        backing.require_or_skip("set CARESYNC_TEST_POSTGRES_URL for the PostgreSQL fuzz")

    async def create() -> tuple[str, Any]:
        manager = backing.fresh_postgres_database(admin or "")
        return await manager.__aenter__(), manager

    url, manager = asyncio.run(create())
    try:
        with _served(url) as served:

            @FUZZ
            @given(bodies=st.lists(uploads(), min_size=1, max_size=8))
            def fuzz(bodies: list[str]) -> None:
                _fuzz(served, bodies)

            fuzz()
    finally:
        asyncio.run(manager.__aexit__(None, None, None))


@pytest.mark.parametrize("transport", ["socket", "http"])
async def test_a_device_time_without_an_offset_is_refused_cleanly(
    running: RunningServer, transport: str, tmp_path: Path
) -> None:
    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    mutation = {**_mutation("check_in", {}), "captured_at": "2026-11-28T10:00:00"}
    body = _fill(json.dumps({"type": "sync_request", "request_id": "naive", "mutations": [mutation]}), agency, 1)
    if transport == "http":
        async with running.http(carer.device_token) as http:
            response = await http.post("/api/v1/device/sync", content=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_frame"
        assert "captured_at" in response.json()["error"]["message"]
        return
    raw = await RawDevice.connect(running)
    try:
        await raw.hello(carer)
        await raw.send_text(body)
        error = await raw.receive_until(Error)
        assert isinstance(error, Error)
        assert (error.code, error.request_id) == ("invalid_frame", "naive")
        # The socket stays open and serves the next request.
        await raw.send_text(body.replace("10:00:00", "10:00:00Z").replace('"naive"', '"fixed"'))
        response = await raw.receive_until(SyncResponse)
        assert isinstance(response, SyncResponse) and response.results[0].status == "applied"
    finally:
        await raw.close()
