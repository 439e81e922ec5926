"""Running a command-line action as a tenant's administrator, on the database directly.

The action gets a node built from the command's settings (schema migrated) and the
tenant's admin as the acting staff member; an unknown tenant and a service's refusal are
one line on stderr and exit 1; the node's bus and database are closed whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable

from sqlalchemy import select

from server.cli_database import command_settings
from server.cli_errors import refusal
from server.node import Node
from server.services.errors import ServiceError
from server.services.identity import Staff
from server.store.schema import users

AdminAction = Callable[[Node, Staff, argparse.Namespace], Awaitable[int]]


def run_as_tenant_admin(args: argparse.Namespace, action: AdminAction) -> int:
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
            return await action(node, Staff(admin.id, args.tenant, "admin", None), args)
        except ServiceError as exc:
            print(refusal(exc), file=sys.stderr)
            return 1
        finally:
            await node.bus.close()
            await node.db.close()

    return asyncio.run(main())
