"""The ``caresync`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from server.cli_devices import add_commands as add_device_commands
from server.settings import DEFAULT_DATABASE_URL, Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    result: int = args.run(args)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="caresync", description="Real-time sync server for home-care rotas.")
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="run a server node")
    _database_flag(serve)
    serve.add_argument(
        "--redis-url", default=None, help="Redis URL for pub/sub across nodes (default: $CARESYNC_REDIS_URL or none)"
    )
    serve.add_argument("--node-id", default=None, help="this node's name in the cluster (default: random)")
    serve.add_argument("--send-queue-limit", type=int, default=2000, help="frames queued per socket before 4001")
    serve.add_argument("--max-unacked", type=int, default=2000, help="unacknowledged pushes per device before 4001")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--heartbeat", type=float, default=25.0, help="heartbeat interval in seconds")
    serve.add_argument(
        "--mismatch-interval", type=float, default=10.0, help="seconds between sync-mismatch passes (0: off)"
    )
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    _database_flag(migrate)
    migrate.set_defaults(run=_migrate)

    schema = commands.add_parser("schema", help="print the JSON Schema of every frame")
    schema.set_defaults(run=_schema)

    tenant = commands.add_parser("tenant", help="create a tenant (agency) with an admin token")
    _database_flag(tenant)
    tenant.add_argument("name")
    tenant.add_argument("--timezone", default="Europe/London")
    tenant.set_defaults(run=_tenant)

    token = commands.add_parser("device-token", help="register a device for carers and print its token")
    _database_flag(token)
    token.add_argument("--tenant", required=True, help="tenant id")
    token.add_argument("--uuid", required=True, help="the device's UUID")
    token.add_argument("--name", required=True)
    token.add_argument("--carer", action="append", required=True, help="carer user id (repeat for shared devices)")
    token.set_defaults(run=_device_token)

    add_device_commands(commands, _database_flag)

    fleet = commands.add_parser("fleet", help="simulate a fleet of devices and report (see docs/benchmarks.md)")
    fleet.add_argument("--devices", type=int, default=200)
    fleet.add_argument("--workers", type=int, default=2, help="load-generator processes")
    fleet.add_argument("--scenario", default="steady", choices=["steady", "burst", "storm", "flaky", "clean", "slow"])
    fleet.add_argument("--rate", type=float, default=20.0, help="rota changes per second (steady, flaky, slow, storm)")
    fleet.add_argument("--duration", type=float, default=20.0, help="seconds of changes")
    fleet.add_argument("--burst-size", type=int, default=1000)
    fleet.add_argument("--ramp", type=float, default=500.0, help="devices coming online per second at the start")
    fleet.add_argument("--url", default=None, help="a running server (default: start one on SQLite)")
    fleet.add_argument("--database-url", default=None, help="the database that server uses (to seed and check)")
    fleet.add_argument("--report", default="fleet-report", help="folder for report.json, report.md and charts")
    fleet.add_argument("--server-arg", action="append", default=[], help="extra flag for the spawned server")
    fleet.set_defaults(run=_fleet)

    demo = commands.add_parser("demo", help="seed a demo agency, start the server and devices, show changes flow")
    demo.add_argument("--port", type=int, default=0, help="port to serve on (0: any free port)")
    demo.add_argument("--carers", type=int, default=3)
    demo.add_argument(
        "--linger", type=float, default=30.0, help="keep serving this many seconds at the end (Ctrl+C stops)"
    )
    demo.set_defaults(run=_demo)
    return parser


def _database_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=None,
        help=f"SQLAlchemy URL (default: $CARESYNC_DATABASE_URL or {DEFAULT_DATABASE_URL})",
    )


def _settings(args: argparse.Namespace, **extra: object) -> Settings:
    values: dict[str, object] = dict(extra)
    if args.database_url:
        values["database_url"] = args.database_url
    return Settings(**values)  # type: ignore[arg-type]


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from protocol import MAX_FRAME_BYTES
    from server.app import create_app
    from server.node import Node
    from server.startup import StartupError, preflight

    extra: dict[str, object] = {
        "host": args.host,
        "port": args.port,
        "heartbeat_interval_s": args.heartbeat,
        "mismatch_interval_s": args.mismatch_interval,
        "send_queue_limit": args.send_queue_limit,
        "max_unacked": args.max_unacked,
    }
    if args.redis_url:
        extra["redis_url"] = args.redis_url
    if args.node_id:
        extra["node_id"] = args.node_id
    settings = _settings(args, **extra)
    try:
        asyncio.run(preflight(settings.database_url, settings.redis_url))
    except StartupError as exc:
        print(f"caresync: {exc}", file=sys.stderr)
        return 2
    app = create_app(Node.build(settings))
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        ws_max_size=4 * MAX_FRAME_BYTES,
        ws_per_message_deflate=False,
        log_level="info",
    )
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from server.store.database import Database

    async def run() -> None:
        db = Database(_settings(args).database_url)
        try:
            await db.migrate()
        finally:
            await db.close()

    asyncio.run(run())
    print("schema is up to date")
    return 0


def _schema(_args: argparse.Namespace) -> int:
    from protocol.schema import frames_schema_json

    sys.stdout.write(frames_schema_json())
    return 0


def _tenant(args: argparse.Namespace) -> int:
    from server.node import Node

    async def run() -> None:
        node = Node.build(_settings(args))
        await node.db.migrate()
        try:
            created = await node.directory.create_tenant(args.name, args.timezone)
        finally:
            await node.db.close()
        print(f"tenant_id={created.tenant_id}")
        print(f"admin_user_id={created.admin_id}")
        print(f"admin_token={created.admin_token}")

    asyncio.run(run())
    return 0


def _device_token(args: argparse.Namespace) -> int:
    from server.node import Node
    from server.services.errors import ServiceError

    async def run() -> int:
        node = Node.build(_settings(args))
        await node.db.migrate()
        try:
            created = await node.devices.create_device(
                args.tenant, uuid=args.uuid, name=args.name, carer_ids=args.carer
            )
        except ServiceError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        finally:
            await node.db.close()
        print(f"device_id={created.device_id}")
        print(f"device_token={created.token}")
        return 0

    return asyncio.run(run())


def _fleet(args: argparse.Namespace) -> int:
    from pathlib import Path

    from loadtest.fleet import FleetConfig, run_fleet

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
    )
    report = asyncio.run(run_fleet(config))
    print(f"report written to {args.report}/ (report.json, report.md, PNG charts)")
    lost, twice = report["lost_changes"], report["applied_twice"]
    print(f"latency {report['latency_ms']}; lost {lost}; applied twice {twice}; alerts {report['mismatch_alerts']}")
    return 0 if not lost and not twice else 1


def _demo(args: argparse.Namespace) -> int:
    from server.demo import run_demo

    try:
        return asyncio.run(run_demo(port=args.port, carers=args.carers, linger_s=args.linger))
    except KeyboardInterrupt:
        print("demo stopped")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
