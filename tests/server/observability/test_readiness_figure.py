"""caresync_ready on /metrics says what /readyz says, so an alert can follow it."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import RunningServer


async def _ready(running: RunningServer) -> tuple[float, int]:
    async with running.http() as http:
        page = (await http.get("/metrics")).text
        readyz = (await http.get("/readyz")).status_code
    values = [
        sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
        if sample.name == "caresync_ready"
    ]
    assert len(values) == 1, values
    return values[0], readyz


async def test_ready_is_one_while_readyz_answers_200_and_zero_while_draining(running: RunningServer) -> None:
    assert await _ready(running) == (1, 200)
    running.node.draining = True
    try:
        assert await _ready(running) == (0, 503)
    finally:
        running.node.draining = False
