"""``caresync feed ...``: office actions on a carer's feed from the command line.

Runs against the database directly (no server needed), as the tenant's administrator.
With the cluster's Redis (``CARESYNC_REDIS_URL``) the nodes hear of a reset at once;
without it (the embedded default, another process) each node finds the new epoch at its
next heads read, within one heartbeat interval, and tells the connected devices then.
"""

from __future__ import annotations

import argparse
from typing import Any

from server.cli_tenant_admin import run_as_tenant_admin
from server.node import Node
from server.services.feed_reset import FeedResetService
from server.services.identity import Staff
from server.settings import add_flags


def add_commands(commands: Any) -> None:
    actions = commands.add_parser("feed", help="office actions on a carer's feed").add_subparsers(
        title="actions", required=True
    )
    reset = actions.add_parser(
        "reset",
        help="start the carer's feed over in a new epoch that replays their current visits; "
        "their phones drop their copy and replay it",
    )
    add_flags(reset, ["database_url", "redis_url"])
    reset.add_argument("--tenant", required=True, help="tenant id")
    reset.add_argument("carer_id", help="the carer whose feed is reset")
    reset.set_defaults(run=lambda args: run_as_tenant_admin(args, _reset))


async def _reset(node: Node, staff: Staff, args: argparse.Namespace) -> int:
    done = await FeedResetService(node.db, node.bus, node.clock).reset(staff, args.carer_id)
    print(f"carer_id={done.carer_id}")
    print(f"epoch={done.epoch}")
    print(f"head={done.head}")
    return 0
