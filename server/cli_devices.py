"""``caresync devices ...``: the device registry and its report from the command line.

Runs against the database directly (no server needed), as the tenant's administrator.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from server.cli_tenant_admin import run_as_tenant_admin
from server.clock import to_datetime
from server.node import Node
from server.services.device_report import COLUMNS, DeviceReport, ReportQuery, to_csv
from server.services.errors import NotFound
from server.services.identity import Staff
from server.store.schema import branches, users


def add_commands(commands: Any, database_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    devices = commands.add_parser("devices", help="manage devices and print the device report")
    actions = devices.add_subparsers(title="actions", required=True)

    def action(name: str, help_text: str, run: Callable[[Node, Staff, argparse.Namespace], Awaitable[int]]) -> Any:
        parser = actions.add_parser(name, help=help_text)
        database_flag(parser)
        parser.add_argument("--tenant", required=True, help="tenant id")
        parser.set_defaults(run=lambda args: run_as_tenant_admin(args, run))
        return parser

    create = action("create", "register a device", _create)
    create.add_argument("--name", required=True, help="the device's name, as the office sees it")
    create.add_argument("--carer", action="append", default=[], help="carer user id (repeat for a shared device)")
    create.add_argument("--branch", help="branch id the device belongs to")
    create.add_argument("--uuid", help="with a UUID the token is printed; without, issue an enrolment code")
    create.add_argument("--platform", default="", help="the phone's platform, e.g. android")
    create.add_argument("--model", default="", help="the phone's model")

    rename = action("rename", "rename a device", _rename)
    rename.add_argument("device_id", help="the device to rename")
    rename.add_argument("--name", required=True, help="its new name")

    assign = action("assign", "replace a device's carers", _assign)
    assign.add_argument("device_id", help="the device whose carers are replaced")
    assign.add_argument("--carer", action="append", required=True, help="carer user id (repeat for a shared device)")
    assign.add_argument("--branch", help="branch id the device belongs to from now on")

    for name, help_text, run in (
        ("deactivate", "deactivate a device (refused from now on)", _deactivate),
        ("delete", "delete a device (its records are kept)", _delete),
        ("code", "issue a one-time enrolment code", _code),
    ):
        action(name, help_text, run).add_argument("device_id", help="the device")

    report = action("report", "the User Device Relationship report", _report)
    report.add_argument("--format", choices=["table", "csv"], default="table", help="a table to read or CSV")
    report.add_argument("--branch", help="only devices of this branch id")
    report.add_argument("--user", help="only devices of this carer user id")
    report.add_argument("--stale", action="store_true", help="only devices without a recent successful sync")
    report.add_argument("--sort", default="device_name", choices=COLUMNS, help="the column to sort by")
    report.add_argument("--desc", action="store_true", help="sort in descending order")


async def _create(node: Node, staff: Staff, args: argparse.Namespace) -> int:
    created = await node.devices.create_device(
        staff.tenant_id,
        name=args.name,
        carer_ids=args.carer,
        uuid=args.uuid,
        branch_id=args.branch,
        platform=args.platform,
        model=args.model,
        shared=len(args.carer) > 1,
        issue_token=args.uuid is not None,
    )
    print(f"device_id={created.device_id}")
    if created.token:
        print(f"device_token={created.token}")
    return 0


async def _rename(node: Node, staff: Staff, args: argparse.Namespace) -> int:
    await node.devices.rename(staff.tenant_id, args.device_id, args.name)
    return 0


async def _assign(node: Node, staff: Staff, args: argparse.Namespace) -> int:
    await node.devices.assign(staff.tenant_id, args.device_id, args.carer, args.branch)
    print("carers replaced; a connected device is told to reconnect within a second")
    return 0


async def _deactivate(node: Node, staff: Staff, args: argparse.Namespace) -> int:
    await node.devices.deactivate(staff.tenant_id, args.device_id)
    return 0


async def _delete(node: Node, staff: Staff, args: argparse.Namespace) -> int:
    await node.devices.delete(staff.tenant_id, args.device_id)
    return 0


async def _code(node: Node, staff: Staff, args: argparse.Namespace) -> int:
    issued = await node.devices.issue_enrolment_code(staff.tenant_id, args.device_id)
    print(f"enrolment_code={issued.code}")
    print(f"expires_at={to_datetime(issued.expires_at_ms).isoformat()}")
    return 0


async def _require_filters(node: Node, staff: Staff, args: argparse.Namespace) -> None:
    """A report filtered by a branch or carer that does not exist is an error, not an empty table."""
    async with node.db.read() as conn:
        if args.branch is not None:
            found = select(branches.c.id).where(branches.c.id == args.branch, branches.c.tenant_id == staff.tenant_id)
            if (await conn.execute(found)).first() is None:
                raise NotFound(f"branch {args.branch} not found")
        if args.user is not None:
            carer = (users.c.id == args.user) & (users.c.tenant_id == staff.tenant_id) & (users.c.role == "carer")
            if (await conn.execute(select(users.c.id).where(carer))).first() is None:
                raise NotFound(f"carer {args.user} not found")


async def _report(node: Node, staff: Staff, args: argparse.Namespace) -> int:
    await _require_filters(node, staff, args)
    query = ReportQuery(
        branch_id=args.branch,
        user_id=args.user,
        stale=True if args.stale else None,
        sort=args.sort,
        descending=args.desc,
        page_size=None,
    )
    page = await DeviceReport(node.db, node.clock).build(staff, query)
    if args.format == "csv":
        sys.stdout.write(to_csv(page))
        return 0
    shown = [
        "device_name",
        "users",
        "branch_name",
        "last_api_call_at",
        "last_api_call_ok",
        "last_successful_sync_at",
        "app_version",
        "connected_now",
        "sync_lag_changes",
        "stale",
    ]
    table = [shown] + [[_short(getattr(row, c)) for c in shown] for row in page.rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(shown))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return 0


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value)
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%d %H:%M"))
    return str(value)
