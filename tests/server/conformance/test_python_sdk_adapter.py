"""``caresync conformance`` against the Python SDK's adapter: every case passes, and the
three reports are written in their documented shapes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from server.cli import main
from server.conformance.cases import all_cases
from tests.server.conformance.adapters import SDK_ADAPTER

pytestmark = pytest.mark.e2e


def test_the_python_sdk_passes_every_case_and_the_reports_say_so(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    code = main(["conformance", "--client", SDK_ADAPTER, "--report-dir", str(reports), "--jobs", "2"])

    report = json.loads((reports / "report.json").read_text())
    failed = {c["id"]: (c["expected"], c["actual"]) for c in report["cases"] if c["verdict"] != "pass"}
    assert failed == {}
    assert code == 0
    ids = [case.id for case in all_cases()]
    assert report["format"] == 1
    assert report["passed"] is True
    assert report["counts"] == {"total": len(ids), "pass": len(ids), "fail": 0, "error": 0, "must_failed": 0}
    assert [c["id"] for c in report["cases"]] == ids
    assert set(report["cases"][0]) == {
        "id", "level", "section", "title", "verdict", "duration_s", "expected", "actual", "frames", "adapter_log",
    }  # fmt: skip

    suite = ET.parse(reports / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert suite.get("tests") == str(len(ids))
    assert suite.get("failures") == "0"
    assert [t.get("name") for t in suite.iter("testcase")] == ids

    summary = (reports / "report.md").read_text()
    assert "**PASSED**" in summary
    for case in all_cases():
        assert f"| `{case.id}` | {case.level.value} | {case.section} | pass |" in summary
