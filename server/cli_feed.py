"""``caresync feed ...``: office actions on a carer's feed from the command line.

Runs against the database directly (no server needed), as the tenant's administrator.
With the cluster's Redis (``CARESYNC_REDIS_URL``) the nodes hear of a reset at once;
without it (the embedded default, another process) each node finds the new epoch at its
next heads read, within one heartbeat interval, and tells the connected devices then.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from sqlalchemy import select

from server.cli_database import command_settings
from server.cli_errors import refusal
from server.node import Node
from server.services.errors import ServiceError
from server.services.feed_reset import FeedResetService
from server.services.identity import Staff
from server.settings import add_flags
from server.store.schema import users


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
    reset.set_defaults(run=_reset)


def _reset(args: argparse.Namespace) -> int:
    async def main() -> int:
        node = Node.build(command_settings(args))
        await node.db.migrate()
        try:
            async with node.db.read() as conn:
                admin = (
                    await conn.execute(select(users).where(users.c.tenant_id == args.tenant, users.c.role == "admin"))
                ).first()
            if admin is None:
                print(f"error: tenant {args.tenant} not found (or has no admin)", file=sys.stderr)
                return 1
            staff = Staff(admin.id, args.tenant, "admin", None)
            done = await FeedResetService(node.db, node.bus, node.clock).reset(staff, args.carer_id)
        except ServiceError as exc:
            print(refusal(exc), file=sys.stderr)
            return 1
        finally:
            await node.bus.close()
            await node.db.close()
        print(f"carer_id={done.carer_id}")
        print(f"epoch={done.epoch}")
        print(f"head={done.head}")
        return 0

    return asyncio.run(main())
