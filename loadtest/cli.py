"""``caresync fleet``: its flags, the run, the result line and the thresholds' verdicts."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from pathlib import Path
from typing import Any

from loadtest.source_addresses import BadSourceAddresses, parse_source_addresses
from loadtest.thresholds import BadExpectation, Expectation, grammar_help, judge, parse

SCENARIOS = ["steady", "burst", "storm", "flaky", "clean", "slow", "http"]

DESCRIPTION = """\
Simulate a fleet of devices against caresync and report (docs/loadtest.md).

Prints progress (one line rewritten in place on a terminal, a line every 5 s into a pipe),
then one result line, then a verdict per --expect. The exit status is 1 when a change was
lost or applied twice or an expectation failed, 2 when the command line is wrong or the
machine cannot hold the fleet (open-file limit, local ports: the message says what to change).

Thresholds (--expect, repeatable), as k6's:
  --expect 'p99<30ms' --expect 'ack_p99<2s' --expect lost=0 --expect alerts=0
"""


def _expectation(text: str) -> Expectation:
    try:
        return parse(text)
    except BadExpectation as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _source_addresses(text: str) -> int | list[str]:
    try:
        return parse_source_addresses(text)
    except BadSourceAddresses as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_fleet_command(commands: Any) -> None:
    """The ``fleet`` subcommand, on ``caresync``'s subparsers."""
    fleet = commands.add_parser(
        "fleet",
        help="simulate a fleet of devices and report (docs/loadtest.md)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fleet.add_argument("--devices", type=int, default=200, help="simulated devices")
    fleet.add_argument("--workers", type=int, default=2, help="load-generator processes")
    fleet.add_argument(
        "--scenario",
        default="steady",
        choices=SCENARIOS,
        help="what the fleet goes through (docs/loadtest.md describes each)",
    )
    fleet.add_argument("--rate", type=float, default=20.0, help="rota changes per second (steady, flaky, slow, storm)")
    fleet.add_argument("--duration", type=float, default=20.0, help="seconds of changes")
    fleet.add_argument("--burst-size", type=int, default=1000, help="burst: rota changes made at once")
    fleet.add_argument("--ramp", type=float, default=500.0, help="devices coming online per second at the start")
    fleet.add_argument("--url", default=None, help="a running server (default: start one on SQLite)")
    fleet.add_argument("--database-url", default=None, help="the database that server uses (to seed and check)")
    fleet.add_argument("--report", default="fleet-report", help="folder for report.json, report.md and charts")
    fleet.add_argument("--server-arg", action="append", default=[], help="extra flag for the spawned server")
    fleet.add_argument("--storm-down-s", type=float, default=1.0, help="storm: seconds the killed server stays down")
    fleet.add_argument(
        "--storm-grace-s",
        type=int,
        default=30,
        help="storm, http: the tenant's mismatch grace, waited out after the restart or the last sync (0: no wait)",
    )
    fleet.add_argument(
        "--idle-measure",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="measure the spawned server's idle CPU for SECONDS once all devices are connected "
        "(after 5 s for the connect wave to settle; announced when it starts); default 0: not measured",
    )
    fleet.add_argument(
        "--source-addresses",
        type=_source_addresses,
        default=None,
        metavar="N|ADDR,ADDR...",
        help="local addresses the devices connect from, spread evenly: a count of loopback addresses "
        "(127.0.0.1, 127.0.0.2, ...) or a list; each carries at most 3/4 of the ephemeral port range "
        "(net.ipv4.ip_local_port_range). Default: as many loopback addresses as the devices need "
        "when the server is on loopback, else the system's choice",
    )
    fleet.add_argument(
        "--expect", action="append", default=[], type=_expectation, metavar="THRESHOLD", help=grammar_help()
    )
    fleet.set_defaults(run=run_fleet_command)


def verdict_lines(expectations: list[Expectation], report: dict[str, Any]) -> tuple[list[str], bool]:
    """One line per expectation, and whether all passed."""
    verdicts = judge(expectations, report)
    return [verdict.line() for verdict in verdicts], all(verdict.passed for verdict in verdicts)


def run_fleet_command(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("matplotlib") is None:
        print(
            "caresync: the fleet draws its report charts with matplotlib, which is not installed; "
            "install the extra: pip install 'caresync[fleet]'",
            file=sys.stderr,
        )
        return 2
    from loadtest.fd_limits import FdLimitTooLow
    from loadtest.fleet import FleetConfig, WorkerExited, run_fleet
    from loadtest.summary import result_line

    if args.url and not args.database_url:
        print("caresync: --url needs --database-url (the fleet seeds and checks that database)", file=sys.stderr)
        return 2
    config = FleetConfig(
        devices=args.devices,
        workers=args.workers,
        scenario=args.scenario,
        rate=args.rate,
        duration_s=args.duration,
        burst_size=args.burst_size,
        ramp_per_s=args.ramp,
        url=args.url,
        database_url=args.database_url,
        report_dir=Path(args.report),
        server_args=args.server_arg,
        storm_down_s=args.storm_down_s,
        storm_grace_s=args.storm_grace_s,
        idle_measure_s=args.idle_measure,
        source_addresses=args.source_addresses,
    )
    try:
        report = asyncio.run(run_fleet(config))
    except (FdLimitTooLow, BadSourceAddresses) as exc:
        print(f"caresync fleet: {exc}", file=sys.stderr)
        return 2
    except WorkerExited as exc:
        print(f"caresync fleet: {exc}", file=sys.stderr)
        return 1
    print(f"report written to {args.report}/ (report.json, report.md, PNG charts)")
    print(result_line(report))
    lines, expectations_met = verdict_lines(args.expect, report)
    for line in lines:
        print(line)
    sound = not report["lost_changes"] and not report["applied_twice"]
    return 0 if sound and expectations_met else 1
