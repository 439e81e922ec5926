"""Server settings: one definition per setting, read from flags and ``CARESYNC_*`` variables.

Each field of :class:`Settings` is the whole definition of a setting: its name, type,
default and help text (``setting(...)`` puts the help in the field's metadata). From those
fields come the ``caresync serve`` flags, the environment variables, the README's
settings table (``caresync settings --markdown``) and the configuration logged at start.
Adding a setting is adding one field here.

Precedence: a flag given on the command line, else its environment variable, else the
config file (``--config`` or ``CARESYNC_CONFIG``, TOML), else the default. The environment
variable is ``CARESYNC_`` plus the flag's name in capitals (``--log-level`` ->
``CARESYNC_LOG_LEVEL``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from server.tunables import PRESENCE_TOUCH_INTERVAL_S

DEFAULT_DATABASE_URL = "sqlite:///./caresync.db"
ENV_PREFIX = "CARESYNC_"
CONFIG_ENV = "CARESYNC_CONFIG"

Secrecy = Literal["public", "url", "secret"]
"""How a value is shown in logs and ``caresync settings``: as is, a URL without its
password, or not at all."""


def setting(default: Any, help: str, *, flag: str | None = None, secrecy: Secrecy = "public") -> Any:
    """A field of :class:`Settings` with its help text (and optionally a shorter flag name)."""
    metadata = {"help": help, "flag": flag, "secrecy": secrecy}
    if isinstance(default, list):
        frozen = tuple(default)
        return dataclasses.field(default=frozen, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    database_url: str = setting(
        DEFAULT_DATABASE_URL, "SQLAlchemy URL: sqlite:///path (embedded) or postgresql://… (cluster)", secrecy="url"
    )
    migrate: str = setting(
        "auto",
        "who brings the schema to this release's head: auto (the node, at start) or off (a `caresync migrate` "
        "job run first; a node whose schema is behind its release's head then refuses to start, exit status 4)",
    )
    database_pool_size: int = setting(
        0,
        "database connections one node may hold at most (on PostgreSQL, 8 of them for rota writes); 0: 24 on "
        "PostgreSQL, so three nodes and the migrate job fit its default max_connections of 100, and 40 on SQLite",
    )
    expected_nodes: int = setting(
        0,
        "nodes the cluster will run; at start a node warns when that many (or the nodes alive in the cluster "
        "table, if more) times --database-pool-size exceed PostgreSQL's max_connections (0: count the live ones)",
    )
    redis_url: str | None = setting(
        None, "Redis URL for pub/sub across nodes; unset: the in-process bus (one node)", secrecy="url"
    )
    node_id: str = setting("", "this node's name in the cluster tables; empty: a random id at start")
    host: str = setting("127.0.0.1", "address to listen on (0.0.0.0 in a container)")
    port: int = setting(8000, "TCP port to listen on")
    heartbeat_interval_s: float = setting(
        25.0,
        "seconds between heartbeats; sent to devices in welcome (25 s keeps carrier NAT mappings open "
        "while letting a phone's radio sleep)",
        flag="heartbeat",
    )
    hello_timeout_s: float = setting(10.0, "seconds a new socket has to send its hello", flag="hello-timeout")
    ack_flush_interval_s: float = setting(
        0.1, "seconds acks and presence changes linger in memory to be written together", flag="ack-flush-interval"
    )
    presence_interval_s: float = setting(
        5.0,
        "seconds between a node's touches of its row in the cluster's node table; a node silent for three is "
        "counted dead by the others and its sockets no longer count. More than 0 and at most 5 (reports count a "
        "node's sockets for 15 s after its last touch); the same on every node",
        flag="presence-interval",
    )
    mismatch_interval_s: float = setting(
        10.0, "seconds between sync-mismatch passes (once per cluster); 0 turns them off", flag="mismatch-interval"
    )
    retention_interval_s: float = setting(
        3600.0,
        "seconds between feed-retention and snapshot-expiry passes (once per cluster)",
        flag="retention-interval",
    )
    send_queue_limit: int = setting(2000, "frames queued for one socket before it is closed as a slow consumer (4001)")
    send_stall_s: float = setting(
        10.0,
        "seconds a send may stay blocked (the device not reading) before the socket is closed as a slow consumer "
        "(4001); below the WebSocket keepalive (--ws-ping-interval-s + --ws-ping-timeout-s), so the device sees 4001 "
        "rather than an abnormal close",
    )
    ws_ping_interval_s: float = setting(
        60.0,
        "seconds between WebSocket pings to each socket (finds peers that vanished, also through proxies); "
        "0 turns them off. Each ping costs the node CPU: at 10,000 sockets a 20 s interval was most of an idle "
        "node's work",
    )
    ws_ping_timeout_s: float = setting(
        20.0, "seconds a socket has to answer a WebSocket ping before it is closed as gone (1011)"
    )
    max_consecutive_errors: int = setting(20, "bad frames in a row before a socket is closed")
    device_frames_per_s: float = setting(
        100.0,
        "frames a device socket may send per second, sustained (a frame counts once per started 4 KiB); beyond "
        "its burst a frame is refused with rate_limited, and a socket that keeps on is closed 4005",
    )
    device_frame_burst: int = setting(
        4000,
        "frames a device socket may send at once before --device-frames-per-s applies (above --max-unacked, so a "
        "device catching up can acknowledge every change it is sent)",
    )
    device_requests_per_s: float = setting(
        20.0,
        "HTTP sync calls a device may make per second, sustained (a call counts once per started 4 KiB of body); "
        "beyond its burst, 429 rate_limited with Retry-After",
    )
    device_request_burst: int = setting(
        1000, "HTTP sync calls a device may make at once before --device-requests-per-s applies"
    )
    device_upload_bytes_per_day: int = setting(
        10 * 1024 * 1024,
        "bytes the mutations one device uploads may add to the store per UTC day (rejected ones included); "
        "beyond it uploads are refused with upload_quota_exceeded until the next day (0: no quota)",
    )
    rejected_mutation_retention_days: float = setting(
        14.0,
        "days the ledger keeps a rejected mutation (its result and the first 1 KiB of its body) for a device that "
        "retries it; older ones are removed by the retention pass",
    )
    max_unacked: int = setting(
        2000, "pushed changes a device may leave unacknowledged before it is closed as a slow consumer (4001)"
    )
    log_level: str = setting("info", "log level: debug, info, warning or error")
    log_format: str = setting("text", "log line format: text (one line, key=value ids) or json (one object a line)")
    drain_s: float = setting(
        5.0, "on SIGTERM, seconds over which sockets are told to reconnect elsewhere (close 4000)", flag="drain-window"
    )
    forwarded_allow_ips: str = setting(
        "127.0.0.1",
        "comma-separated proxy addresses whose X-Forwarded-For/-Proto headers are trusted ('*': any)",
    )
    allowed_origins: tuple[str, ...] = setting(
        [],
        "comma-separated extra origins (scheme://host[:port]) the console accepts state-changing requests from, "
        "besides its own",
    )
    allowed_hosts: tuple[str, ...] = setting(
        ["127.0.0.1", "localhost", "[::1]"],
        "comma-separated host names this server answers to (Host header; IPv6 in brackets; '*.example.org' "
        "wildcards, '*': any); "
        "others get 400. List the names users and the load balancer use",
    )
    secure_cookies: str = setting(
        "auto",
        "Secure flag on console cookies: auto (when the request came over HTTPS, directly or through a trusted "
        "proxy's X-Forwarded-Proto), always, never",
    )
    header_timeout_s: float = setting(10.0, "seconds a client has to send a request's headers before it is cut off")
    keep_alive_timeout_s: float = setting(5.0, "seconds an idle HTTP keep-alive connection stays open")
    max_connections: int = setting(
        16384,
        "concurrent connections (HTTP and WebSocket) per node; a new one beyond it gets 503 and is closed (0: no cap)",
    )
    listen_backlog: int = setting(
        16384,
        "connections the kernel queues for the node to accept; a fleet reconnecting at once after a restart "
        "overflows a short queue and its connects wait out TCP's retry (capped by the OS: net.core.somaxconn)",
    )
    malloc_arena_max: int = setting(
        2,
        "heaps glibc's allocator keeps for the node's threads (0: glibc's default of eight per core); the node's "
        "database threads each got a heap of their own, ~6 KiB more memory per connected device after a connect "
        "wave. MALLOC_ARENA_MAX in the environment wins",
    )
    console_frames_per_s: float = setting(
        5.0,
        "frames a console socket may send per second, sustained (a console needs one heartbeat per interval); "
        "beyond its burst a frame is refused with rate_limited, and a socket that keeps on is closed 4005",
    )
    console_frame_burst: int = setting(
        20, "frames a console socket may send at once before --console-frames-per-s applies"
    )
    console_sockets_per_user: int = setting(
        20,
        "console sockets one staff user may hold open on a node; one more is refused with too_many_sockets and "
        "closed 4006 (0: no cap)",
    )
    rate_limit_max_keys: int = setting(
        50_000,
        "keys (client addresses, logins) each sign-in and enrolment rate-limit store remembers, at most",
    )
    rate_limit_max_bytes: int = setting(
        4 * 1024 * 1024,
        "bytes of memory each sign-in and enrolment rate-limit store may use, at most (keys are kept as 16-byte "
        "digests, so this bounds the number of keys too)",
    )
    internal_networks: tuple[str, ...] = setting(
        ["127.0.0.0/8", "::1/128"],
        "comma-separated networks (CIDR) whose callers see node ids, session counts and failure reasons on "
        "/healthz, /livez and /readyz, and /metrics; others get the status only (and 404 for /metrics)",
    )

    def __post_init__(self) -> None:
        if self.migrate not in ("auto", "off"):
            raise SettingError(f"migrate: expected auto or off, got {self.migrate!r}")
        if self.database_pool_size < 0 or self.expected_nodes < 0 or self.malloc_arena_max < 0:
            raise SettingError("database_pool_size, expected_nodes and malloc_arena_max: expected 0 or more")
        if not 0 < self.presence_interval_s <= PRESENCE_TOUCH_INTERVAL_S:
            raise SettingError(
                f"presence_interval_s: expected more than 0 and at most {PRESENCE_TOUCH_INTERVAL_S:g}, "
                f"got {self.presence_interval_s:g}"
            )

    def items(self) -> Iterator[tuple[str, Any]]:
        for spec in fields():
            yield spec.name, getattr(self, spec.name)

    def redacted(self) -> dict[str, Any]:
        """Every setting, with passwords in URLs and secret values hidden (for logs)."""
        return {spec.name: spec.shown(getattr(self, spec.name)) for spec in fields()}

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then the config file (``CARESYNC_CONFIG``), then ``CARESYNC_*``
        variables, then ``overrides`` (e.g. flags given)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        config = overrides.pop("config", None) or environ.get(CONFIG_ENV)
        if config:
            values.update(read_config_file(Path(config)))
        for spec in fields():
            raw = environ.get(spec.env)
            if raw is not None and raw != "":
                values[spec.name] = spec.parse(raw, source=spec.env)
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)


class SettingError(ValueError):
    """A setting's value cannot be read; ``str()`` names the setting and the expected type."""


@dataclass(frozen=True)
class SettingSpec:
    """One setting as described by its :class:`Settings` field."""

    name: str
    kind: Any
    default: Any
    help: str
    flag: str
    secrecy: Secrecy

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.flag.removeprefix("--").replace("-", "_").upper()

    @property
    def type_name(self) -> str:
        return {str: "text", int: "integer", float: "number", bool: "true/false"}.get(self.base, "list")

    @property
    def base(self) -> Any:
        """The type without ``| None``."""
        args = [arg for arg in typing.get_args(self.kind) if arg is not type(None)]
        if isinstance(self.kind, types.UnionType) and len(args) == 1:
            return args[0]
        return self.kind

    def parse(self, raw: str, source: str) -> Any:
        base = self.base
        try:
            if base is bool:
                lowered = raw.strip().lower()
                if lowered not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                    raise ValueError(raw)
                return lowered in ("1", "true", "yes", "on")
            if typing.get_origin(base) is tuple:
                return tuple(part.strip() for part in raw.split(",") if part.strip())
            converted: Any = base(raw)
            return converted
        except ValueError:
            raise SettingError(f"{source}: expected {self.type_name}, got {raw!r}") from None

    def shown(self, value: Any) -> Any:
        if self.secrecy == "secret" and value:
            return "***"
        if self.secrecy == "url" and isinstance(value, str):
            return redact_url(value)
        return value

    def shown_default(self) -> str:
        value = self.default
        if value is None or value == "" or value == ():
            return "(unset)"
        if isinstance(value, tuple):
            return ",".join(value)
        return str(value)


def fields() -> list[SettingSpec]:
    hints = typing.get_type_hints(Settings)
    specs = []
    for field in dataclasses.fields(Settings):
        flag = field.metadata.get("flag") or field.name.replace("_", "-")
        specs.append(
            SettingSpec(
                name=field.name,
                kind=hints[field.name],
                default=field.default,
                help=field.metadata["help"],
                flag=f"--{flag}",
                secrecy=field.metadata["secrecy"],
            )
        )
    return specs


def redact_url(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def add_flags(parser: argparse.ArgumentParser, names: Iterable[str] | None = None) -> None:
    """Add a flag for each setting (or those named); a flag not given reads as ``None``."""
    wanted = None if names is None else set(names)
    for spec in fields():
        if wanted is not None and spec.name not in wanted:
            continue
        parser.add_argument(
            spec.flag,
            dest=spec.name,
            default=None,
            type=_flag_parser(spec),
            metavar=spec.name.upper() if spec.base is not bool else "BOOL",
            help=f"{spec.help} (${spec.env}; default: {spec.shown_default()})",
        )


def _flag_parser(spec: SettingSpec) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            return spec.parse(raw, source=spec.flag)
        except SettingError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None, **extra: Any) -> Settings:
    """Settings from the flags in ``args`` (those given), the environment, the config file
    (``--config``) and the defaults."""
    given = {spec.name: getattr(args, spec.name) for spec in fields() if getattr(args, spec.name, None) is not None}
    given.update(extra)
    return Settings.load(environ, config=getattr(args, "config", None), **given)


def add_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help=f"a TOML file of settings (names as in the table, e.g. port = 8080); flags and "
        f"variables win over it (${CONFIG_ENV})",
    )


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings in a TOML file: ``name = value`` with the names of the settings table
    (``log_level`` or ``log-level``). An unknown name or a wrong type is a :class:`SettingError`."""
    try:
        loaded = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingError(f"{path}: cannot read the config file: {exc}") from None
    by_name = {spec.name: spec for spec in fields()} | {spec.flag.removeprefix("--"): spec for spec in fields()}
    values: dict[str, Any] = {}
    for key, value in loaded.items():
        spec = by_name.get(key.replace("_", "-")) or by_name.get(key)
        if spec is None:
            raise SettingError(f"{path}: unknown setting {key!r} (see caresync settings --markdown)")
        values[spec.name] = spec.parse(_as_text(value), source=f"{path}: {key}")
    return values


def _as_text(value: Any) -> str:
    """A TOML value as the text a flag would carry (lists comma-separated)."""
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def markdown_table() -> str:
    """The README's settings table, generated from the definitions above."""
    lines = ["| flag | environment | default | meaning |", "| --- | --- | --- | --- |"]
    for spec in fields():
        help_text = spec.help.replace("|", "\\|")
        lines.append(f"| `{spec.flag}` | `{spec.env}` | `{spec.shown_default()}` | {help_text} |")
    return "\n".join(lines) + "\n"
