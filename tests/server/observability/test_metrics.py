"""/metrics counters move as a device connects, receives, acks and is cut off."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from protocol.errors import CloseCode
from protocol.frames import Ack, Change
from server.seeding import seed_agency
from tests.conftest import RunningServer
from tests.support import RawDevice, eventually


async def _scrape(running: RunningServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with running.http() as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_counters_follow_a_device_through_connect_push_ack_and_cut_off(
    running: RunningServer, tmp_path: Path
) -> None:
    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    before = await _scrape(running)
    assert _value(before, "caresync_connected_devices") == 0

    device = await RawDevice.connect(running)
    welcome = await device.hello(carer)
    position = welcome.feeds[0]
    connected = await _scrape(running)
    assert _value(connected, "caresync_connected_devices") == 1
    assert _value(connected, "caresync_socket_connects_total", kind="device") == (
        _value(before, "caresync_socket_connects_total", kind="device") + 1
    )
    assert _value(connected, "caresync_frames_in_total", kind="device", type="hello") >= 1

    # Catch up on the seeded visits, then one live change; ack everything received.
    visit_id = carer.visit_ids[0]
    async with running.http(agency.admin_token) as http:
        visit = (await http.get(f"/api/v1/visits/{visit_id}")).json()
        starts = datetime.fromisoformat(visit["starts_at"]) + timedelta(minutes=15)
        ends = datetime.fromisoformat(visit["ends_at"]) + timedelta(minutes=15)
        response = await http.post(
            f"/api/v1/visits/{visit_id}/reschedule", json={"starts_at": starts.isoformat(), "ends_at": ends.isoformat()}
        )
        assert response.status_code == 200, response.text
    last = 0
    while last < 5:  # four seeded visits, then the reschedule
        frame = await device.receive()
        if isinstance(frame, Change):
            last = frame.seq
    await device.send(Ack(feed=carer.id, epoch=position.epoch, seq=last))

    async def acked() -> bool:
        now = await _scrape(running)
        return _value(now, "caresync_ack_lag_seconds_count") >= _value(before, "caresync_ack_lag_seconds_count") + 5

    await eventually(acked)
    after_ack = await _scrape(running)
    sent = _value(after_ack, "caresync_frames_out_total", kind="device", type="change")
    assert sent >= _value(before, "caresync_frames_out_total", kind="device", type="change") + 5
    assert _value(after_ack, "caresync_push_latency_seconds_count") >= (
        _value(before, "caresync_push_latency_seconds_count") + 5
    )
    assert _value(after_ack, "caresync_frames_in_total", kind="device", type="ack") >= 1

    # Cut off: the office revokes the device.
    async with running.http(agency.admin_token) as http:
        assert (await http.post(f"/api/v1/devices/{carer.device_id}/revoke")).status_code == 200
    assert await device.close_code() == CloseCode.DEVICE_REVOKED

    async def cut_off() -> bool:
        now = await _scrape(running)
        closes = _value(now, "caresync_socket_closes_total", kind="device", code=str(int(CloseCode.DEVICE_REVOKED)))
        was = _value(before, "caresync_socket_closes_total", kind="device", code=str(int(CloseCode.DEVICE_REVOKED)))
        return closes == was + 1 and _value(now, "caresync_connected_devices") == 0

    await eventually(cut_off)


async def test_store_sync_and_node_figures_are_exposed(running: RunningServer) -> None:
    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    async with running.http(carer.device_token) as http:
        response = await http.post("/api/v1/device/sync", json={"request_id": "r1", "mutations": [], "positions": []})
    assert response.status_code == 200, response.text
    samples = await _scrape(running)
    assert _value(samples, "caresync_sync_requests_total", kind="standard", outcome="ok") >= 1
    assert _value(samples, "caresync_store_transaction_seconds_count", outcome="commit") >= 1
    assert _value(samples, "caresync_open_alerts", severity="high") == 0
    assert ("caresync_bus_reconnects_total", ()) in samples
    assert ("caresync_event_loop_lag_seconds_count", ()) in samples


async def test_reading_health_and_metrics_resets_nothing(running: RunningServer) -> None:
    running.node.loop_lag_max_ms = 9_999.0  # far above any real lag, so only a reset could lower it
    async with running.http() as http:
        for _ in range(2):
            assert (await http.get("/healthz")).json()["loop_lag_max_ms"] == 9_999.0
            assert "caresync_event_loop_lag_max_seconds 9.999" in (await http.get("/metrics")).text


def test_socket_figures_are_summed_over_workers_in_multi_process_mode(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR the socket figures are prometheus-client's shared metrics."""
    script = """
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from server.observability import instruments
instruments.FRAMES_OUT.inc("device", "change")
instruments.ACK_LAG.observe(0.002)
page = CollectorRegistry()
MultiProcessCollector(page)
print(generate_latest(page).decode())
"""
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    run = [sys.executable, "-c", script]
    pages = [  # two workers sharing the folder
        subprocess.run(run, env=environment, capture_output=True, check=True, text=True).stdout for _ in range(2)
    ]
    assert 'caresync_frames_out_total{kind="device",type="change"} 2.0' in pages[1]
    assert "caresync_ack_lag_seconds_count 2.0" in pages[1]
