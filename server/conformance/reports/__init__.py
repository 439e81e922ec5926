"""The kit's reports: JSON for machines, JUnit XML for CI systems, Markdown for people."""

from __future__ import annotations

from pathlib import Path

from server.conformance.reports.json_report import json_report
from server.conformance.reports.junit import junit_xml
from server.conformance.reports.markdown import markdown_summary
from server.conformance.runner import CaseResult

__all__ = ["json_report", "junit_xml", "markdown_summary", "write_reports"]


def write_reports(results: list[CaseResult], client: str, folder: Path) -> None:
    """``report.json``, ``junit.xml`` and ``report.md`` in ``folder``."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(json_report(results, client), indent=2) + "\n")
    (folder / "junit.xml").write_bytes(junit_xml(results))
    (folder / "report.md").write_text(markdown_summary(results, client))
