"""The readable summary: every case with level and verdict; each failure with what was
expected, what happened, the frames exchanged and the end of the adapter's log."""

from __future__ import annotations

from server.conformance.reports.json_report import counts
from server.conformance.runner import CaseResult

VERDICT_MARK = {"pass": "pass", "fail": "**FAIL**", "error": "**ERROR**"}


def markdown_summary(results: list[CaseResult], client: str) -> str:
    tally = counts(results)
    passed = not any(r.fails_run for r in results)
    lines = [
        "# caresync conformance report",
        "",
        f"Client: `{client}`",
        "",
        f"**{'PASSED' if passed else 'FAILED'}**: {tally['pass']} of {tally['total']} cases passed, "
        f"{tally['must_failed']} MUST failed, {tally['error']} could not run.",
        "",
        "| case | level | section | verdict | what a conforming client does |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| `{r.case.id}` | {r.case.level.value} | {r.case.section} | {VERDICT_MARK[r.verdict]} | {r.case.title} |"
        )
    for r in results:
        if r.verdict == "pass":
            continue
        lines += [
            "",
            f"## `{r.case.id}` ({r.case.level.value}, docs/protocol.md {r.case.section})",
            "",
            r.case.title,
            "",
            f"- expected: {r.expected}",
            f"- actual: {r.actual}",
            "",
            "Frames (seconds since the case started, who sent it, connection number):",
            "",
            "```",
            *(f"{f.at_s:8.3f} {f.direction:6} #{f.connection} {f.text}" for f in r.frames),
            "```",
        ]
        if r.adapter_log:
            lines += ["", "End of the adapter's log:", "", "```", r.adapter_log.rstrip(), "```"]
    return "\n".join(lines) + "\n"
