"""``caresync conformance`` against the TypeScript SDK's adapter (its real client over the
durable Node store): every MUST case passes."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest

from server.cli import main
from server.conformance.cases import all_cases

pytestmark = pytest.mark.e2e

PLACEHOLDERS = "{url} {token} {uuid} {state_dir}"


def test_the_typescript_sdk_passes_every_must_case(typescript_dist: Path, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None
    adapter = typescript_dist / "conformance" / "adapter.js"
    reports = tmp_path / "reports"
    client = f"{shlex.quote(node)} {shlex.quote(str(adapter))} {PLACEHOLDERS}"

    code = main(["conformance", "--client", client, "--report-dir", str(reports), "--jobs", "2"])

    report = json.loads((reports / "report.json").read_text())
    failed_must = {
        c["id"]: (c["expected"], c["actual"])
        for c in report["cases"]
        if c["level"] == "MUST" and c["verdict"] != "pass"
    }
    assert failed_must == {}
    assert code == 0
    musts = [case.id for case in all_cases() if case.level.value == "MUST"]
    assert report["counts"]["must_failed"] == 0
    assert {c["id"] for c in report["cases"] if c["level"] == "MUST"} == set(musts)
