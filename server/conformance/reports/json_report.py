"""The JSON report; its shape is documented in docs/conformance.md ("Reading the report")."""

from __future__ import annotations

from typing import Any

from server.conformance.runner import CaseResult

REPORT_FORMAT = 1
"""Bumped when a field changes meaning or goes away (new fields may appear at any time)."""


def json_report(results: list[CaseResult], client: str) -> dict[str, Any]:
    return {
        "format": REPORT_FORMAT,
        "client": client,
        "passed": not any(r.fails_run for r in results),
        "counts": counts(results),
        "cases": [_case(r) for r in results],
    }


def counts(results: list[CaseResult]) -> dict[str, int]:
    return {
        "total": len(results),
        "pass": sum(r.verdict == "pass" for r in results),
        "fail": sum(r.verdict == "fail" for r in results),
        "error": sum(r.verdict == "error" for r in results),
        "must_failed": sum(r.fails_run and r.verdict == "fail" for r in results),
    }


def _case(result: CaseResult) -> dict[str, Any]:
    case = result.case
    return {
        "id": case.id,
        "level": case.level.value,
        "section": case.section,
        "title": case.title,
        "verdict": result.verdict,
        "duration_s": round(result.duration_s, 3),
        "expected": result.expected,
        "actual": result.actual,
        "frames": [frame.as_json() for frame in result.frames],
        "adapter_log": result.adapter_log,
    }
