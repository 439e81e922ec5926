"""The ``caresync`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from loadtest.cli import add_fleet_command
from server.cli_backup import add_commands as add_backup_commands
from server.cli_conformance import add_commands as add_conformance_commands
from server.cli_database import CommandError, command_settings, require_tenant
from server.cli_devices import add_commands as add_device_commands
from server.cli_directory import add_commands as add_directory_commands
from server.cli_errors import refusal
from server.cli_feed import add_commands as add_feed_commands
from server.cli_migrate import add_commands as add_migrate_commands
from server.cli_tokens import add_commands as add_token_commands
from server.cli_visits import add_commands as add_visit_commands
from server.settings import SettingError, add_config_flag, add_flags, from_args, markdown_table


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        result: int = args.run(args)
    except (CommandError, SettingError) as exc:
        print(f"caresync: {exc}", file=sys.stderr)
        return 2
    return result


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("caresync")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="caresync", description="Real-time sync server for home-care rotas.")
    parser.add_argument("--version", action="version", version=f"caresync {version()}")
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser(
        "serve",
        help="run a server node",
        description="Run a server node. Every flag can also be set by its CARESYNC_* environment variable.",
    )
    add_flags(serve)
    add_config_flag(serve)
    serve.set_defaults(run=_serve)

    settings = commands.add_parser("settings", help="print the effective settings (secrets hidden)")
    add_flags(settings)
    add_config_flag(settings)
    settings.add_argument("--markdown", action="store_true", help="print the table of every setting instead")
    settings.set_defaults(run=_settings_command)

    add_migrate_commands(commands)
    add_backup_commands(commands)

    schema = commands.add_parser("schema", help="print the JSON Schema of every frame")
    schema.set_defaults(run=_schema)

    tenant = commands.add_parser("tenant", help="create a tenant (agency) with an admin token")
    _database_flag(tenant)
    tenant.add_argument("name", help="the agency's name")
    tenant.add_argument("--timezone", default="Europe/London", help="an IANA time zone name, as the REST API takes")
    tenant.set_defaults(run=_tenant)

    token = commands.add_parser("device-token", help="register a device for carers and print its token")
    _database_flag(token)
    token.add_argument("--tenant", required=True, help="tenant id")
    token.add_argument("--uuid", required=True, help="the device's UUID")
    token.add_argument("--name", required=True, help="the device's name, as the office sees it")
    token.add_argument("--carer", action="append", required=True, help="carer user id (repeat for shared devices)")
    token.add_argument("--branch", help="branch id (default: the carers' branch, when they share one)")
    token.set_defaults(run=_device_token)

    add_device_commands(commands, _database_flag)
    add_directory_commands(commands)
    add_feed_commands(commands)
    add_token_commands(commands)
    add_visit_commands(commands)
    add_conformance_commands(commands)

    add_fleet_command(commands)

    demo = commands.add_parser("demo", help="seed a demo agency, start the server and devices, show changes flow")
    demo.add_argument("--port", type=int, default=0, help="port to serve on (0: any free port)")
    demo.add_argument("--carers", type=int, default=3, help="carers, each with a simulated phone")
    demo.add_argument(
        "--linger", type=float, default=30.0, help="keep serving this many seconds at the end (Ctrl+C stops)"
    )
    demo.set_defaults(run=_demo)
    return parser


def _database_flag(parser: argparse.ArgumentParser) -> None:
    add_flags(parser, ["database_url"])


def _serve(args: argparse.Namespace) -> int:
    from server.malloc_arenas import limit_malloc_arenas
    from server.node import Node
    from server.observability.logs import check_logging, configure_logging, write_fatal
    from server.pool_check import warn_if_pools_exceed_server
    from server.schema_policy import EXIT_SCHEMA_NOT_CURRENT, SchemaNotCurrent, check_schema
    from server.serving import serve
    from server.startup import StartupError, check_port_free, preflight

    try:
        settings = from_args(args)
        check_logging(settings.log_level, settings.log_format)
    except (SettingError, ValueError) as exc:
        print(f"caresync: {exc}", file=sys.stderr)
        return 2
    limit_malloc_arenas(settings.malloc_arena_max)  # before any thread starts: preflight opens the database
    try:
        check_port_free(settings.host, settings.port)
        asyncio.run(preflight(settings.database_url, settings.redis_url))
        if settings.migrate == "off":
            asyncio.run(check_schema(settings.database_url))
    except SchemaNotCurrent as exc:
        write_fatal(str(exc), settings.log_format)
        return EXIT_SCHEMA_NOT_CURRENT
    except StartupError as exc:
        write_fatal(str(exc), settings.log_format)
        return 2
    node = Node.build(settings)
    configure_logging(settings.log_level, settings.log_format, node.node_id)
    asyncio.run(warn_if_pools_exceed_server(settings, node.node_id))
    serve(settings, node)
    return 0


def _settings_command(args: argparse.Namespace) -> int:
    from server.cli_settings import settings_table

    if args.markdown:
        sys.stdout.write(markdown_table())
        return 0
    try:
        settings = from_args(args)
    except SettingError as exc:
        print(f"caresync: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(settings_table(settings))
    return 0


def _schema(_args: argparse.Namespace) -> int:
    from protocol.schema import frames_schema_json

    sys.stdout.write(frames_schema_json())
    return 0


def _tenant(args: argparse.Namespace) -> int:
    from server.node import Node
    from server.services.errors import ServiceError

    async def run() -> int:
        node = Node.build(command_settings(args, may_create=True))
        await node.db.migrate()
        try:
            created = await node.directory.create_tenant(args.name, args.timezone)
        except ServiceError as exc:  # the same checks and words as the REST API
            print(refusal(exc), file=sys.stderr)
            return 1
        finally:
            await node.db.close()
        print(f"tenant_id={created.tenant_id}")
        print(f"admin_user_id={created.admin_id}")
        print(f"admin_token={created.admin_token}")
        return 0

    return asyncio.run(run())


def _device_token(args: argparse.Namespace) -> int:
    from server.node import Node
    from server.services.errors import ServiceError

    async def run() -> int:
        node = Node.build(command_settings(args))
        await node.db.migrate()
        try:
            await require_tenant(node, args.tenant)
            created = await node.devices.create_device(
                args.tenant, uuid=args.uuid, name=args.name, carer_ids=args.carer, branch_id=args.branch
            )
        except ServiceError as exc:
            print(refusal(exc), file=sys.stderr)
            return 1
        finally:
            await node.db.close()
        print(f"device_id={created.device_id}")
        print(f"device_token={created.token}")
        return 0

    return asyncio.run(run())


def _demo(args: argparse.Namespace) -> int:
    from server.demo import run_demo

    try:
        return asyncio.run(run_demo(port=args.port, carers=args.carers, linger_s=args.linger))
    except KeyboardInterrupt:
        print("demo stopped")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
