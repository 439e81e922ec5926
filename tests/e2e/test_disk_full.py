"""A full disk is a store outage like any other: REST writes answer a JSON 503 with
Retry-After, a device's upload gets ``internal_error`` on an open socket, the log holds one
line for the outage and no traceback, and writes work again once space is freed.

The disk is real: the embedded SQLite store lives on a 8 MiB tmpfs mounted for this test
only (root is needed to mount; without it the test is skipped). Nothing else lives there,
so filling it harms nothing, and it is unmounted afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from protocol.errors import ErrorCode
from protocol.frames import CheckIn, Error, SyncRequest, SyncResponse
from server.node import Node
from server.seeding import seed_agency
from tests.conftest import start_server, stop_server
from tests.conftest import test_settings as settings_for
from tests.support import RawDevice, eventually


@pytest.fixture
def tiny_disk() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount_point = Path(tempfile.mkdtemp(prefix="caresync-tinyfs-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
        mount_point.rmdir()


def _fill(disk: Path) -> Path:
    """Write a filler file until the disk has no space left.

    Unbuffered: a buffered file would keep the part of the last chunk that did not fit
    and fail again when closed (whether it does depends on how full the disk was)."""
    filler = disk / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(chunk)
    return filler


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_a_full_disk_is_answered_and_survived(tiny_disk: Path) -> None:
    node = Node.build(settings_for(tiny_disk, database_url=f"sqlite:///{tiny_disk / 'server.db'}"))
    running = await start_server(node)
    records = _Records()
    logging.getLogger().addHandler(records)
    try:
        agency = await seed_agency(node, carers=1)
        carer = agency.carers[0]
        raw = await RawDevice.connect(running)
        await raw.hello(carer)
        filler = _fill(tiny_disk)

        async with running.http(agency.admin_token) as http:
            for n in range(3):
                response = await http.patch(f"/api/v1/visits/{carer.visit_ids[0]}", json={"notes": "x" * 5000 + str(n)})
                assert response.status_code == 503, response.text
                assert response.json()["error"]["code"] == "unavailable"
                assert int(response.headers["retry-after"]) > 0

        check_in = CheckIn(mutation_id=1, carer_id=carer.id, visit_id=carer.visit_ids[0], captured_at=datetime.now(UTC))
        await raw.send(SyncRequest(request_id="full", mutations=[check_in]))
        error = await raw.receive_until(Error)
        assert isinstance(error, Error) and (error.code, error.request_id) == (ErrorCode.INTERNAL_ERROR, "full")
        assert raw.ws.close_code is None

        filler.unlink()

        async def writes_again() -> bool:
            async with running.http(agency.admin_token) as http:
                patched = await http.patch(f"/api/v1/visits/{carer.visit_ids[0]}", json={"notes": "back"})
                return patched.status_code == 200

        await eventually(writes_again, timeout=20)
        await raw.send(SyncRequest(request_id="retried", mutations=[check_in]))
        answer = await raw.receive_until(SyncResponse)
        assert isinstance(answer, SyncResponse) and answer.results[0].status == "applied"
        await raw.close()
    finally:
        logging.getLogger().removeHandler(records)
        await stop_server(running)
    assert [r.getMessage() for r in records.records if r.exc_info] == []
    assert len([r for r in records.records if "database unavailable" in r.getMessage()]) == 1
