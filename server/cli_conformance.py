"""``caresync conformance``: run the conformance kit against a device client (docs/conformance.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_JOBS = 2


def add_commands(commands: Any) -> None:
    conformance = commands.add_parser(
        "conformance",
        help="prove a device client follows the protocol (docs/conformance.md)",
        description="Run the conformance cases against the client started by --client; exit 1 if a MUST fails.",
    )
    conformance.add_argument(
        "--client",
        required=True,
        help="the adapter's command line, with {url} {token} {uuid} {state_dir} filled in by the kit",
    )
    conformance.add_argument(
        "--report-dir", default="conformance-report", help="folder for report.json, junit.xml, report.md"
    )
    conformance.add_argument("--case", action="append", default=[], help="run only this case id (repeatable)")
    conformance.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="cases run at the same time")
    conformance.add_argument("--list", action="store_true", help="list the cases and exit")
    conformance.set_defaults(run=_conformance)


def _conformance(args: argparse.Namespace) -> int:
    from server.conformance.cases import all_cases
    from server.conformance.reports import write_reports
    from server.conformance.runner import run_cases

    cases = all_cases()
    if args.list:
        for case in cases:
            print(f"{case.id:32} {case.level.value:6} {case.section:5} {case.title}")
        return 0
    unknown = sorted(set(args.case) - {case.id for case in cases})
    if unknown:
        print(f"caresync: unknown case id(s): {', '.join(unknown)} (see --list)", file=sys.stderr)
        return 2
    chosen = [case for case in cases if not args.case or case.id in args.case]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="caresync-conformance-") as workdir:
        results = asyncio.run(run_cases(chosen, args.client, Path(workdir), args.jobs))
    write_reports(results, args.client, Path(args.report_dir))
    for result in results:
        print(f"{result.verdict.upper():5} {result.case.level.value:6} {result.case.id}")
        if result.verdict != "pass":
            print(f"      expected {result.expected}\n      actual   {(result.actual or '').strip()[:500]}")
    failed = [r for r in results if r.fails_run]
    print(
        f"{len(results) - len(failed)} of {len(results)} cases without a failing MUST "
        f"in {time.monotonic() - started:.1f} s; "
        f"reports in {args.report_dir}/ (report.json, junit.xml, report.md)"
    )
    return 1 if failed else 0
