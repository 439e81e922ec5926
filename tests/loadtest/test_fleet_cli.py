"""``caresync fleet`` run for real on a few devices, its output read through a pipe: whole
lines (no carriage returns), numbers or dashes (no NaN), text (no Python structures), the
idle measurement announced when asked for, a verdict per --expect and the exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _fleet(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "server.cli", "fleet", "--devices", "6", "--rate", "4", "--duration", "1"]
    command += ["--report", str(tmp_path / "report"), *flags]
    return subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=tmp_path)


def test_a_run_meeting_its_thresholds_exits_0_with_plain_output(tmp_path: Path) -> None:
    done = _fleet(tmp_path, "--idle-measure", "1", "--expect", "lost=0", "--expect", "p99 < 60s", "--expect", "twice=0")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "\r" not in out and "nan" not in out.lower() and "{" not in out, out
    assert "measuring the server's idle CPU: 5 s for the connect wave to settle, then 1 s" in out
    verdicts = [line for line in out.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert verdicts[0] == "PASS lost=0 (0)" and verdicts[2] == "PASS twice=0 (0)"
    assert verdicts[1].startswith("PASS p99 < 60s (") and verdicts[1].endswith(" ms)")
    result = next(line for line in out.splitlines() if line.startswith("4 changes"))
    assert "; lost 0; applied twice 0; alerts 0" in result
    report = json.loads((tmp_path / "report" / "report.json").read_text(), parse_constant=_no_nan)
    assert report["server_idle_cpu_share"] >= 0
    assert "{'" not in (tmp_path / "report" / "report.md").read_text()


def test_a_failed_threshold_is_printed_and_exits_1(tmp_path: Path) -> None:
    done = _fleet(tmp_path, "--expect", "lost=0", "--expect", "p99<0.001ms")
    assert done.returncode == 1, done.stdout + done.stderr
    verdicts = [line for line in done.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert verdicts[0] == "PASS lost=0 (0)"
    assert verdicts[1].startswith("FAIL p99<0.001ms (") and verdicts[1].endswith(" ms)")
    assert "measuring the server's idle CPU" not in done.stdout, "idle is not measured unless asked for"
    assert "server_idle_cpu_share" not in json.loads((tmp_path / "report" / "report.json").read_text())


def test_a_malformed_threshold_is_refused_before_anything_runs(tmp_path: Path) -> None:
    done = _fleet(tmp_path, "--expect", "p99 fast")
    assert done.returncode == 2
    assert "argument --expect" in done.stderr and "METRIC OPERATOR NUMBER[UNIT]" in done.stderr
    assert not (tmp_path / "report").exists()


def _no_nan(constant: str) -> None:
    raise AssertionError(f"report.json holds {constant}")
