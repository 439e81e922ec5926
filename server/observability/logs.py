"""Log configuration: one line per event, with the ids that say whose event it was.

Every line carries the time, level, logger and node id, and, where they apply, the
request id, tenant, device and carer of the work being done. Those ids live in context
variables (:func:`bind`), so they follow the request or socket through every ``await``
without being passed around. ``--log-format json`` writes one JSON object a line.

Nothing that looks like a bearer token or a password ever reaches the output: the
formatters scrub ``cst_…``/``cdt_…`` tokens, ``Bearer …`` values and ``password=…`` pairs
from the message and any traceback. A warning or error repeating within
:data:`REPEAT_WINDOW_S` (an outage hit by every request) is written once, and its next
line after the window says how many were held back.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

CONTEXT_IDS = ("request_id", "tenant", "device", "carer")
"""Ids a line carries when the work it describes has them."""

_context: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"caresync_log_{name}", default=None) for name in CONTEXT_IDS
}

REPEAT_WINDOW_S = 60.0

_SECRETS = [
    (re.compile(r"\b(cst|cdt)_[A-Za-z0-9_-]{8,}"), r"\1_***"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), r"\1***"),
    (re.compile(r"(?i)((?:password|passwd|token|secret)[\"']?\s*[=:]\s*[\"']?)[^\s\"',&}]+"), r"\1***"),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),
]


def scrub(text: str) -> str:
    """``text`` without anything that looks like a token, password or URL credential."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def bind(**ids: str | None) -> None:
    """Attach ids (``request_id``, ``tenant``, ``device``, ``carer``) to the current task's lines."""
    for name, value in ids.items():
        _context[name].set(value)


@contextmanager
def bound(**ids: str | None) -> Iterator[None]:
    """Like :func:`bind`, undone at the end of the block."""
    tokens = [(_context[name], _context[name].set(value)) for name, value in ids.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_ids() -> dict[str, str]:
    return {name: value for name, var in _context.items() if (value := var.get()) is not None}


class _ContextFilter(logging.Filter):
    """Stamps each record with the node id and the ids of the work in progress."""

    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.node = self.node_id
        record.ids = current_ids()
        return True


class _QuietSocketChatter(logging.Filter):
    """Drops uvicorn's per-socket lines (accepted, open, closed) unless at debug level:
    a fleet of devices reconnecting would otherwise fill the log with them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or record.name != "uvicorn.error":
            return True
        message = str(record.msg)
        return not (message in ("connection open", "connection closed") or '"WebSocket %s"' in message)


class _RepeatFilter(logging.Filter):
    """Lets a repeated warning or error through once per window, then counts the rest."""

    def __init__(self, window_s: float = REPEAT_WINDOW_S) -> None:
        super().__init__()
        self.window_s = window_s
        self._seen: dict[tuple[str, str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        key = (record.name, str(record.msg), kind)
        now = time.monotonic()
        first, held = self._seen.get(key, (0.0, 0))
        if now - first < self.window_s:
            self._seen[key] = (first, held + 1)
            return False
        self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} (and {held} more like it in the last {self.window_s:.0f} s)"
        if len(self._seen) > 1000:
            self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.window_s}
        return True


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """``2026-01-01T09:00:00.000Z INFO server.node [node=a device=…] message``."""

    def format(self, record: logging.LogRecord) -> str:
        ids = {"node": getattr(record, "node", "-"), **getattr(record, "ids", {})}
        tags = " ".join(f"{name}={value}" for name, value in ids.items())
        line = f"{_timestamp(record)} {record.levelname} {record.name} [{tags}] {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return scrub(line)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time``, ``level``, ``logger``, ``node``, ids, ``message``;
    a request's line also has ``method``, ``path``, ``status`` and ``duration_ms``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "node": getattr(record, "node", None),
            **getattr(record, "ids", {}),
            **getattr(record, "http", {}),
            "message": scrub(record.getMessage()),
        }
        if record.exc_info:
            entry["error"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


LEVELS = ("debug", "info", "warning", "error")
_CHATTY_LIBRARIES = ("aiosqlite", "asyncio", "httpcore", "httpx", "multipart", "python_multipart", "websockets")
FORMATS = ("text", "json")


def check_logging(level: str, fmt: str) -> None:
    """Raise ``ValueError`` naming the choices if ``level`` or ``fmt`` is not one of them."""
    if level.lower() not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")


def write_fatal(message: str, fmt: str, stream: TextIO | None = None) -> None:
    """Write the one line a command stops on, before logging is configured: in ``fmt``'s
    shape (a ``critical`` record of logger ``caresync`` for ``json``), else ``caresync: …``."""
    out = stream or sys.stderr
    if fmt != "json":
        print(f"caresync: {scrub(message)}", file=out)
        return
    record = logging.LogRecord("caresync", logging.CRITICAL, __file__, 0, message, None, None)
    print(JsonFormatter().format(record), file=out)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` installs (and replaces when called again)."""


def configure_logging(level: str, fmt: str, node_id: str, stream: TextIO | None = None) -> None:
    """Send every logger's lines (the app's and uvicorn's) to ``stream`` in ``fmt``."""
    check_logging(level, fmt)
    handler = _Handler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_ContextFilter(node_id))
    handler.addFilter(_RepeatFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, _Handler):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries that log every call at debug level stay at info: --log-level debug is for
    # caresync's own lines (and uvicorn's per-socket ones).
    for library in _CHATTY_LIBRARIES:
        logging.getLogger(library).setLevel(logging.INFO if level.lower() == "debug" else logging.NOTSET)
    chatter = logging.getLogger("uvicorn.error")
    for old_filter in [f for f in chatter.filters if isinstance(f, _QuietSocketChatter)]:
        chatter.removeFilter(old_filter)
    if level.lower() != "debug":
        chatter.addFilter(_QuietSocketChatter())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # One line per request is the access log's job at debug level only: a fleet of
    # devices polling would otherwise drown everything else.
    logging.getLogger("uvicorn.access").setLevel(logging.DEBUG if level.lower() == "debug" else logging.WARNING)
