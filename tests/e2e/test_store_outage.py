"""A PostgreSQL outage is answered, not crashed on (a throwaway server, stopped and
started; the shared one is never touched): REST answers a JSON 503 with Retry-After, a
connected device gets ``internal_error`` and keeps its socket, a ``hello`` is closed with
the reconnect code 4003 and a hint, the log holds one line per outage and no traceback,
and everything works again once the database is back, without restarting the node."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.errors import CloseCode, ErrorCode
from protocol.frames import Change, Error, Heartbeat, Hello, SyncRequest, SyncResponse
from server.ids import hash_token
from server.node import Node
from server.seeding import SeededCarer, seed_agency
from tests import backing
from tests.conftest import RunningServer, start_server, stop_server
from tests.conftest import test_settings as settings_for
from tests.support import RawDevice, eventually


class StoppablePostgres(backing.ThrowawayPostgres):
    """A throwaway server that can be stopped and started again on the same data."""

    def halt(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def resume(self) -> None:
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.workdir / "log"), "-w", "start")


@pytest.fixture
def postgres() -> Iterator[StoppablePostgres]:
    try:
        server = StoppablePostgres()
        server.start()
    except (FileNotFoundError, OSError, Exception) as exc:  # no binaries, or not allowed to run them
        backing.require_or_skip(f"cannot start a throwaway PostgreSQL: {exc}")
        raise
    yield server
    server.stop()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_a_database_outage_is_answered_and_survived(postgres: StoppablePostgres, tmp_path: Path) -> None:
    node = Node.build(settings_for(tmp_path, database_url=postgres.admin_url))
    running = await start_server(node)
    records = _Records()
    logging.getLogger().addHandler(records)
    try:
        agency = await seed_agency(node, carers=1)
        carer = agency.carers[0]
        raw = await RawDevice.connect(running)
        (status,) = (await raw.hello(carer)).feeds
        replayed = 0
        while replayed < status.head:  # the replay is done: the device is level
            change = await raw.receive_until(Change)
            assert isinstance(change, Change)
            replayed = change.seq

        postgres.halt()
        async with running.http(agency.admin_token) as http:
            for _ in range(5):
                response = await http.get(f"/api/v1/visits/{carer.visit_ids[0]}")
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == "application/json"
                assert response.json()["error"]["code"] == "unavailable"
                assert int(response.headers["retry-after"]) > 0

            # The console's pages too: 503 with Retry-After, never a traceback.
            page = await http.get(
                "/console/notifications", headers={"cookie": f"caresync_session={agency.admin_token}"}
            )
            assert page.status_code == 503, page.text
            assert int(page.headers["retry-after"]) > 0

        # The connected device is answered and keeps its socket.
        await raw.send(SyncRequest(request_id="during"))
        error = await raw.receive_until(Error)
        assert isinstance(error, Error)
        assert (error.code, error.request_id) == (ErrorCode.INTERNAL_ERROR, "during")
        await raw.send(Heartbeat())  # answered from the heads the node holds in memory
        beat = await raw.receive_until(Heartbeat)
        assert isinstance(beat, Heartbeat) and beat.heads[0].seq == status.head
        assert raw.ws.close_code is None

        # A new connection is told to come back later, with a reconnect code and a hint,
        # once the node no longer serves the device's identity from memory (it does for
        # 2 s after its last good poll of device effects, and then the hello would be
        # answered from memory).
        token_hash = hash_token(carer.device_token)
        await eventually(lambda: node.effects.identities.get(token_hash, node.clock.now_ms()) is None)
        await _hello_told_to_come_back_later(running, carer)

        postgres.resume()

        async def rest_is_back() -> bool:
            async with running.http(agency.admin_token) as http:
                return (await http.get(f"/api/v1/visits/{carer.visit_ids[0]}")).status_code == 200

        await eventually(rest_is_back, timeout=20)
        await raw.send(SyncRequest(request_id="after"))
        answer = await raw.receive_until(SyncResponse)
        assert isinstance(answer, SyncResponse) and answer.request_id == "after"
        again = await RawDevice.connect(running)
        await again.hello(carer)
        await again.close()
        await raw.close()
    finally:
        logging.getLogger().removeHandler(records)
        await stop_server(running)
    tracebacks = [r.getMessage() for r in records.records if r.exc_info]
    assert tracebacks == []
    began = [r for r in records.records if "database unavailable" in r.getMessage()]
    assert len(began) == 1, [r.getMessage() for r in began]


async def test_a_hello_that_cannot_be_answered_does_not_take_over_the_devices_socket(
    postgres: StoppablePostgres, tmp_path: Path
) -> None:
    """During an outage a second hello of a connected device, admitted from the identity
    the node holds but needing a store read to be answered (its tenant's preferences), is
    refused with 4003 and leaves the device's working socket alone: before, it closed that
    socket as replaced (4105) and then failed itself, leaving the device with none."""
    node = Node.build(settings_for(tmp_path, database_url=postgres.admin_url))
    running = await start_server(node)
    try:
        agency = await seed_agency(node, carers=1)
        carer = agency.carers[0]
        raw = await RawDevice.connect(running)
        await raw.hello(carer)
        node.preferences.forget(agency.tenant_id)  # the second hello must read them
        token_hash = hash_token(carer.device_token)

        def identity_held() -> bool:
            return node.effects.identities.get(token_hash, node.clock.now_ms()) is not None

        await eventually(identity_held)
        postgres.halt()
        assert identity_held(), "the outage began too long ago for the identity to be served from memory"
        await _hello_told_to_come_back_later(running, carer)
        await raw.send(Heartbeat())  # the first socket is still the device's, answered from memory
        assert isinstance(await raw.receive_until(Heartbeat), Heartbeat)
        assert raw.ws.close_code is None
        postgres.resume()
        await raw.close()
    finally:
        await stop_server(running)


async def _hello_told_to_come_back_later(running: RunningServer, carer: SeededCarer) -> None:
    """A new connection's hello is answered internal_error and closed 4003 with a hint."""
    late = await RawDevice.connect(running)
    await late.send(Hello(token=carer.device_token, device_uuid=carer.device_uuid, app_version="t", protocol_version=1))
    refused = await late.receive_until(Error)
    assert isinstance(refused, Error) and refused.code == ErrorCode.INTERNAL_ERROR
    assert await late.close_code() == CloseCode.TRY_AGAIN_LATER
    assert late.ws.close_reason and "retry in" in late.ws.close_reason
