"""``caresync tokens ...``: office users' API tokens from the command line.

Like ``caresync users``, these run against the database directly (no server needed). A
token revoked here stops working at once; a ``/ws/console`` socket open on it is closed
(4106) by its node within one heartbeat interval (the REST call rings the bus instead,
which closes it at once).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from server.cli_database import command_settings, require_tenant
from server.cli_errors import refusal
from server.clock import to_datetime
from server.node import Node
from server.services.errors import ServiceError
from server.services.staff_tokens import StaffTokens, TokenInfo
from server.settings import add_flags
from server.tunables import API_TOKEN_MAX_TTL_S

Action = Callable[[StaffTokens, argparse.Namespace], Awaitable[int]]


def add_commands(commands: Any) -> None:
    actions = commands.add_parser("tokens", help="create, list and revoke office users' API tokens").add_subparsers(
        title="actions", required=True
    )

    def action(name: str, help_text: str, run: Action) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text)
        add_flags(parser, ["database_url"])
        parser.add_argument("--tenant", required=True, help="tenant id")
        parser.add_argument("user_id", help="the office user (admin or coordinator)")
        parser.set_defaults(run=lambda args: _run(args, run))
        return parser

    create = action("create", "issue a named API token; prints its id, expiry and the token (shown once)", _create)
    create.add_argument("--name", required=True, help="what the token is for, e.g. 'rota import'")
    create.add_argument(
        "--days", type=_days, default=None, help="expire after this many days, at most 400 (default: never)"
    )
    listing = action("list", "list the user's tokens (id, name, created, expires, last used)", _list)
    listing.add_argument("--all", action="store_true", help="include revoked and expired tokens")
    action("revoke", "revoke one of the user's tokens", _revoke).add_argument(
        "token_id", help="the token's id, as `tokens list` prints it"
    )


def _run(args: argparse.Namespace, run: Action) -> int:
    async def main() -> int:
        node = Node.build(command_settings(args))
        await node.db.migrate()
        try:
            await require_tenant(node, args.tenant)
            return await run(StaffTokens(node.db, node.clock), args)
        except ServiceError as exc:
            print(refusal(exc), file=sys.stderr)
            return 1
        finally:
            await node.db.close()

    return asyncio.run(main())


def _days(text: str) -> float:
    """A token's lifetime in days, within what the service allows (a minute to 400 days)."""
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if not math.isfinite(days) or not 60 <= round(days * 86400) <= API_TOKEN_MAX_TTL_S:
        most = API_TOKEN_MAX_TTL_S // 86400
        raise argparse.ArgumentTypeError(f"a token lasts a minute to {most} days, got {text}; leave it out for none")
    return days


def _when(ms: int | None) -> str:
    return "-" if ms is None else to_datetime(ms).isoformat(timespec="seconds")


def _row(info: TokenInfo) -> str:
    state = "revoked" if info.revoked_at_ms is not None else "live"
    times = "\t".join(_when(t) for t in (info.created_at_ms, info.expires_at_ms, info.last_used_at_ms))
    return f"{info.id}\t{state}\t{times}\t{info.name}"


async def _create(tokens: StaffTokens, args: argparse.Namespace) -> int:
    ttl_s = None if args.days is None else round(args.days * 86400)
    issued = await tokens.issue(args.tenant, args.user_id, args.name, ttl_s)
    print(f"token_id={issued.id}")
    print(f"expires_at={_when(issued.expires_at_ms)}")
    print(f"token={issued.token}")
    return 0


async def _list(tokens: StaffTokens, args: argparse.Namespace) -> int:
    listed = await tokens.list(args.tenant, args.user_id, include_inactive=args.all)
    print("id\tstate\tcreated\texpires\tlast used\tname")
    for info in listed:
        print(_row(info))
    return 0


async def _revoke(tokens: StaffTokens, args: argparse.Namespace) -> int:
    print(_row(await tokens.revoke(args.tenant, args.user_id, args.token_id)))
    return 0
