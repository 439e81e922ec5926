"""``caresync branches|users|passwords ...``: a first install without the REST API.

Like ``caresync devices``, these run against the database directly (no server needed).
A password is read from standard input (``--password-stdin``) or asked for on the
terminal, never taken as a flag (flags end up in shell history and ``ps``).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from server.cli_database import CommandError, command_settings, require_tenant
from server.cli_errors import refusal
from server.node import Node
from server.services.directory import ROLES
from server.services.errors import ServiceError
from server.settings import add_flags
from server.store.schema import branches, users

Action = Callable[[Node, argparse.Namespace], Awaitable[int]]


def add_commands(commands: Any) -> None:
    def action(group: Any, name: str, help_text: str, run: Action) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = group.add_parser(name, help=help_text)
        add_flags(parser, ["database_url"])
        parser.add_argument("--tenant", required=True, help="tenant id")
        parser.set_defaults(run=lambda args: _run(args, run))
        return parser

    branch_actions = commands.add_parser("branches", help="create and list a tenant's branches").add_subparsers(
        title="actions", required=True
    )
    create_branch = action(branch_actions, "create", "create a branch; prints its id", _create_branch)
    create_branch.add_argument("name", help="the branch's name")
    action(branch_actions, "list", "list branches (id and name)", _list_branches)

    user_actions = commands.add_parser("users", help="create and list users, issue office tokens").add_subparsers(
        title="actions", required=True
    )
    create = action(user_actions, "create", "create a user; prints its id", _create_user)
    create.add_argument("name", help="the user's full name")
    create.add_argument("--role", required=True, choices=ROLES, help="what the user does")
    create.add_argument("--branch", help="branch id (coordinators and carers belong to one)")
    action(user_actions, "list", "list users (id, role, branch, login, name)", _list_users)
    token = action(user_actions, "token", "issue an API token for an office user; prints it", _issue_token)
    token.add_argument("user_id", help="the office user (admin or coordinator)")
    token.add_argument("--name", default="API token", help="what the token is for")

    password_actions = commands.add_parser("passwords", help="set office users' sign-in").add_subparsers(
        title="actions", required=True
    )
    setter = action(password_actions, "set", "set an office user's login and password", _set_password)
    setter.add_argument("user_id", help="the office user (admin or coordinator)")
    setter.add_argument("--login", required=True, help="the sign-in name (often an e-mail address)")
    setter.add_argument("--password-stdin", action="store_true", help="read the password from standard input")


def _run(args: argparse.Namespace, run: Action) -> int:
    async def main() -> int:
        node = Node.build(command_settings(args))
        await node.db.migrate()
        try:
            await require_tenant(node, args.tenant)
            return await run(node, args)
        except ServiceError as exc:
            print(refusal(exc), file=sys.stderr)
            return 1
        finally:
            await node.db.close()

    return asyncio.run(main())


async def _create_branch(node: Node, args: argparse.Namespace) -> int:
    print(await node.directory.create_branch(args.tenant, args.name))
    return 0


async def _list_branches(node: Node, args: argparse.Namespace) -> int:
    async with node.db.read() as conn:
        rows = (
            await conn.execute(select(branches).where(branches.c.tenant_id == args.tenant).order_by(branches.c.name))
        ).all()
    for row in rows:
        print(f"{row.id}\t{row.name}")
    return 0


async def _create_user(node: Node, args: argparse.Namespace) -> int:
    print(await node.directory.create_user(args.tenant, args.branch, args.name, args.role))
    return 0


async def _list_users(node: Node, args: argparse.Namespace) -> int:
    async with node.db.read() as conn:
        rows = (
            await conn.execute(
                select(users).where(users.c.tenant_id == args.tenant).order_by(users.c.role, users.c.name)
            )
        ).all()
    for row in rows:
        print(f"{row.id}\t{row.role}\t{row.branch_id or '-'}\t{row.login or '-'}\t{row.name}")
    return 0


async def _issue_token(node: Node, args: argparse.Namespace) -> int:
    print(await node.directory.issue_staff_token(args.tenant, args.user_id, args.name))
    return 0


async def _set_password(node: Node, args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not sys.stdin.isatty():
        raise CommandError("no terminal to ask the password on; pipe it in with --password-stdin")
    else:
        password = await asyncio.to_thread(getpass.getpass, "password: ")
    await node.staff_auth.set_password(args.tenant, args.user_id, args.login, password)
    print(f"password set; {args.login} can sign in at /console")
    return 0
