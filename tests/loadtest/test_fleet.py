"""The fleet harness itself, on small fleets for a few seconds each."""

from __future__ import annotations

import json
import time
from pathlib import Path

from loadtest.fleet import FleetConfig, run_fleet


def _config(tmp_path: Path, **values: object) -> FleetConfig:
    base: dict[str, object] = {"devices": 24, "workers": 2, "rate": 10.0, "duration_s": 2.0, "quiet": True}
    base.update(values)
    return FleetConfig(report_dir=tmp_path / "report", **base)  # type: ignore[arg-type]


async def test_steady_fleet_loses_nothing_and_writes_its_report(tmp_path: Path) -> None:
    began = time.perf_counter()
    report = await run_fleet(_config(tmp_path))
    run_ms = (time.perf_counter() - began) * 1000
    assert report["changes_sent"] == 20
    assert report["lost_changes"] == 0
    assert report["applied_twice"] == 0
    assert report["mismatch_alerts"] == 0
    assert report["latency_ms"]["samples"] == 20
    assert report["latency_ms"]["p99"] > 0
    assert report["ack_lag_ms"]["p50"] >= 0
    # 20 changes to random carers of 24: some carers get none, and their devices' last ack is
    # of a change seeded before the run; those are not the scenario's lag (it read 62 s).
    assert 0 < report["ack_lag_ms"]["samples"] < 24
    assert report["ack_lag_ms"]["p99"] < run_ms, "no ack can lag a change by more than the whole run"
    assert report["ack_lag_ms"]["devices_acked_behind_head"] == 0, "every device's last ack reached its head"
    folder = tmp_path / "report"
    assert {p.name for p in folder.iterdir()} == {
        "report.json",
        "report.md",
        "latency.png",
        "connected.png",
        "deliveries.png",
    }
    assert json.loads((folder / "report.json").read_text())["scenario"] == "steady"
    assert (folder / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_a_deliberately_dropped_change_is_reported_lost(tmp_path: Path) -> None:
    report = await run_fleet(_config(tmp_path, drop_one_change=True, rate=24.0, duration_s=2.0))
    assert report["lost_changes"] >= 1
    assert report["devices_behind"] == 1


async def test_storm_restart_resumes_every_device(tmp_path: Path) -> None:
    report = await run_fleet(_config(tmp_path, scenario="storm", rate=8.0, storm_grace_s=0))
    assert report["lost_changes"] == 0
    assert report["applied_twice"] == 0
    assert report["reconnects"] >= 24
    assert report["storm_all_reconnected_s"] > 0
    first, restarted = report["server_cpu_first_process_s"], report["server_cpu_restarted_process_s"]
    assert first > 0 and restarted > 0
    assert abs(report["server_cpu_s"] - first - restarted) < 0.02, "the storm's total is both processes' CPU"


async def test_storm_down_nearly_a_grace_period_raises_no_alert(tmp_path: Path) -> None:
    """The server is killed right after a burst of changes (the acks it held die with it) and
    stays down for most of the 30 s grace; devices come back a few seconds after the restart,
    past their changes' grace counted from the commit. The run waits out a grace period from
    the restart with detection passes every 2 s: not one alert."""
    config = _config(tmp_path, scenario="storm", rate=20.0, storm_down_s=28, storm_grace_s=30)
    config.server_args = ["--mismatch-interval", "2"]
    report = await run_fleet(config)
    assert report["lost_changes"] == 0
    assert report["storm_all_reconnected_s"] > 0
    assert report["mismatch_alerts"] == 0


async def test_http_only_fleet_holding_every_change_raises_no_alert(tmp_path: Path) -> None:
    """Every device is HTTP-only with the default 900 s auto sync: changes, then one more sync
    each (paged by the server as it likes), and a whole 30 s grace waited out with detection
    passes every 2 s. The devices hold every change and acknowledged it: not one alert."""
    config = _config(tmp_path, scenario="http", rate=12.0, storm_grace_s=30)
    config.server_args = ["--mismatch-interval", "2"]
    report = await run_fleet(config)
    assert report["changes_sent"] == 24
    assert report["http_final_sync_failures"] == [], "a device's final sync failed every attempt"
    assert (report["lost_changes"], report["devices_behind"], report["applied_twice"]) == (0, 0, 0)
    assert report["ack_lag_ms"]["devices_acked_behind_head"] == 0
    assert report["mismatch_alerts"] == 0


async def test_slow_readers_are_cut_off(tmp_path: Path) -> None:
    # A tight bound on unacknowledged pushes makes a few changes enough to show the cut-off.
    config = _config(tmp_path, scenario="slow", slow_share=0.25, rate=40.0, duration_s=3.0)
    config.server_args = ["--max-unacked", "2"]
    report = await run_fleet(config)
    assert report["applied_twice"] == 0
    assert report["server_slow_consumers_closed"] >= 1, "slow devices are closed as slow consumers"
