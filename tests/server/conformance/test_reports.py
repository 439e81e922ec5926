"""The reports of a run with a failing MUST, a failing SHOULD and a pass: JSON shape,
JUnit XML that parses with the right failures, and a Markdown summary that shows why."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from server.conformance.case import Case, Level
from server.conformance.context import CaseContext
from server.conformance.frame_log import FrameLog
from server.conformance.reports import write_reports
from server.conformance.runner import CaseResult


async def _body(_ctx: CaseContext) -> None:
    return None


def _results() -> list[CaseResult]:
    log = FrameLog()
    log.add("device", 1, '{"type":"ack","feed":"f","epoch":1,"seq":9}')
    log.note(1, "server closed the WebSocket: 4101 ''")
    must = Case("ack.example", Level.MUST, "§2", "A must.", _body)
    should = Case("clean.example", Level.SHOULD, "§4a", "A should.", _body)
    passing = Case("push.example", Level.MUST, "§2", "A pass.", _body)
    return [
        CaseResult(must, "fail", 1.5, "an ack of 8", "an ack of 9", tuple(log.frames), "adapter said hi"),
        CaseResult(should, "fail", 0.5, "x", "y", tuple(log.frames)),
        CaseResult(passing, "pass", 0.25),
    ]


def test_reports_of_a_failing_run(tmp_path: Path) -> None:
    write_reports(_results(), "my-adapter {url}", tmp_path)

    report = json.loads((tmp_path / "report.json").read_text())
    assert report["passed"] is False
    assert report["counts"] == {"total": 3, "pass": 1, "fail": 2, "error": 0, "must_failed": 1}
    first = report["cases"][0]
    assert (first["id"], first["level"], first["section"], first["verdict"]) == ("ack.example", "MUST", "§2", "fail")
    assert first["frames"][0]["direction"] == "device"
    assert first["frames"][0]["text"].startswith('{"type":"ack"')

    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {t.get("name"): t for t in suite.iter("testcase")}
    failure = cases["ack.example"].find("failure")
    assert failure is not None
    assert "an ack of 9" in (failure.get("message") or "")
    assert "4101" in (failure.text or "")
    assert cases["clean.example"].find("skipped") is not None
    assert list(cases["push.example"]) == []

    summary = (tmp_path / "report.md").read_text()
    assert "**FAILED**" in summary
    assert "| `ack.example` | MUST | §2 | **FAIL** | A must. |" in summary
    assert "- expected: an ack of 8" in summary
    assert "- actual: an ack of 9" in summary
    assert "adapter said hi" in summary
