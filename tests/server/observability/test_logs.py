"""Log lines: JSON that parses, the ids of the work in progress, never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from server.observability.logs import bound, configure_logging, scrub
from tests.conftest import RunningServer

TOKEN = "cst_" + "A1b2C3d4" * 5


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The app's log configuration, writing to a buffer; the test's own logging restored after."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    stream = io.StringIO()
    configure_logging("debug", "json", "node-t", stream)
    yield stream
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def test_json_lines_parse_and_carry_the_ids(captured: io.StringIO) -> None:
    log = logging.getLogger("server.test")
    with bound(request_id="req-1", tenant="ten-1", device="dev-1", carer="car-1"):
        log.info("pushed %d changes", 3)
    log.warning("outside any request")
    first, second = [line for line in _lines(captured) if line["logger"] == "server.test"]
    assert first["level"] == "info"
    assert first["logger"] == "server.test"
    assert first["node"] == "node-t"
    assert (first["request_id"], first["tenant"], first["device"], first["carer"]) == (
        "req-1",
        "ten-1",
        "dev-1",
        "car-1",
    )
    assert first["message"] == "pushed 3 changes"
    assert str(first["time"]).endswith("Z")
    assert "request_id" not in second and second["node"] == "node-t"


def test_tokens_and_passwords_never_reach_the_output(captured: io.StringIO) -> None:
    log = logging.getLogger("server.test")
    log.info("token %s and header Bearer %s", TOKEN, TOKEN)
    log.info('body {"login": "x", "password": "hunter22"} url postgresql://caresync:s3cret@db/caresync')
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError:
        log.exception("failed")
    output = captured.getvalue()
    for secret in (TOKEN[4:], "hunter22", "s3cret"):
        assert secret not in output
    assert all(isinstance(line, dict) for line in _lines(captured))


def test_a_repeated_error_is_written_once_with_a_count(captured: io.StringIO) -> None:
    log = logging.getLogger("server.test")
    for _ in range(50):
        try:
            raise ConnectionRefusedError("redis down")
        except ConnectionRefusedError:
            log.exception("publish failed")
    assert len([line for line in _lines(captured) if line["message"] == "publish failed"]) == 1


def test_scrub_keeps_ordinary_text() -> None:
    assert scrub("device d1 acked seq 5 on feed carer-1") == "device d1 acked seq 5 on feed carer-1"


async def test_requests_carry_an_id_and_their_lines_the_tenant(running: RunningServer, captured: io.StringIO) -> None:
    from server.seeding import seed_agency

    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    async with running.http(carer.device_token) as http:
        response = await http.post(
            "/api/v1/device/sync",
            json={"request_id": "r1", "mutations": [], "positions": []},
            headers={"x-request-id": "trace-42"},
        )
        assert response.headers["x-request-id"] == "trace-42"
        made_up = (await http.get("/livez")).headers["x-request-id"]
        assert made_up and made_up != "trace-42"
    lines = [line for line in _lines(captured) if line.get("request_id") == "trace-42"]
    assert lines, captured.getvalue()
    assert lines[-1]["tenant"] == agency.tenant_id
    assert lines[-1]["device"] == carer.device_id
    assert lines[-1]["carer"] == carer.id


async def test_socket_lines_carry_the_device_tenant_and_carer(running: RunningServer, captured: io.StringIO) -> None:
    from server.seeding import seed_agency
    from tests.support import RawDevice, eventually

    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    device = await RawDevice.connect(running)
    await device.hello(carer)
    await device.close()

    def closed_line() -> list[dict[str, object]]:
        return [line for line in _lines(captured) if str(line["message"]).startswith("device socket closed")]

    await eventually(closed_line)
    line = closed_line()[0]
    assert (line["tenant"], line["device"], line["carer"]) == (agency.tenant_id, carer.device_id, carer.id)
    assert line["request_id"]


async def test_a_request_line_has_its_method_route_status_and_duration_as_keys(
    running: RunningServer, captured: io.StringIO
) -> None:
    from server.seeding import seed_agency

    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    async with running.http(carer.device_token) as http:
        response = await http.post(
            "/api/v1/device/sync",
            json={"request_id": "r1", "mutations": [], "positions": []},
            headers={"x-request-id": "trace-keys"},
        )
        assert response.status_code == 200
    line = next(line for line in _lines(captured) if line.get("request_id") == "trace-keys" and "status" in line)
    assert (line["method"], line["path"], line["status"]) == ("POST", "/api/v1/device/sync", 200)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert (line["tenant"], line["device"]) == (agency.tenant_id, carer.device_id)


def test_the_fatal_start_up_line_is_json_when_json_is_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    from server.cli import main

    url = "postgresql://nobody:s3cret@127.0.0.1:1/none"
    assert main(["serve", "--database-url", url, "--port", "0", "--log-format", "json"]) == 2
    err = capsys.readouterr().err
    (line,) = err.splitlines()
    record = json.loads(line)
    assert (record["level"], record["logger"]) == ("critical", "caresync")
    assert record["message"].startswith("cannot reach the database at postgresql://nobody:***@127.0.0.1:1/none")
    assert record["time"].endswith("Z")
