"""JSON Schema (draft 2020-12) of every frame, generated from the msgspec structs.

The document validates a frame as published, with any standard validator: its root is
an object that must be exactly one of the frames (``oneOf``, told apart by ``type``);
``$defs`` holds one entry point per direction (``DeviceFrame``, ``ServerFrame``,
``ConsoleClientFrame``, ``ConsoleServerFrame``) and every nested shape. msgspec's OpenAPI
``discriminator`` keyword, which strict 2020-12 validators reject, is not emitted; tagged
unions become ``oneOf`` (their ``type`` or ``kind`` constants make them exclusive).
Times are ``format: date-time``.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Any

import msgspec

from protocol.codec import ConsoleClientFrame, ConsoleServerFrame, encode
from protocol.console import ConsoleHello
from protocol.frames import (
    Ack,
    CheckIn,
    CleanSyncRequest,
    DeviceFrame,
    Error,
    FeedPosition,
    Heartbeat,
    Hello,
    ServerFrame,
    SyncRequest,
)

SCHEMA_ID = "https://caresync.example/protocol/v1/frames.schema.json"

_EXAMPLE_TIME = datetime(2026, 11, 26, 9, 30, 0, 123000, tzinfo=UTC)
_EXAMPLES: list[msgspec.Struct] = [
    Hello(
        token="cdt_example",
        device_uuid="6f1c9a52-1b2c-4d5e-8f90-123456789abc",
        app_version="4.2.0",
        protocol_version=1,
        positions=[FeedPosition(feed="0b6c2d1e", epoch=1, seq=41)],
    ),
    Ack(feed="0b6c2d1e", epoch=1, seq=42),
    Heartbeat(),
    SyncRequest(
        request_id="r1",
        mutations=[CheckIn(mutation_id=7, carer_id="0b6c2d1e", visit_id="5d2e", captured_at=_EXAMPLE_TIME)],
        positions=[FeedPosition(feed="0b6c2d1e", epoch=1, seq=42)],
    ),
    CleanSyncRequest(request_id="c1", feed="0b6c2d1e"),
    Error(code="unknown_feed", message="feed 9 is not on this device", request_id="r1"),
    ConsoleHello(token="cookie"),
]


def frames_schema() -> dict[str, Any]:
    """The schema document committed as docs/frames.schema.json."""
    (device, server, console_client, console_server), components = msgspec.json.schema_components(
        [DeviceFrame, ServerFrame, ConsoleClientFrame, ConsoleServerFrame]
    )
    defs = _strict(components)
    defs["DeviceFrame"] = {"description": "A frame a device sends.", **_strict(device)}
    defs["ServerFrame"] = {"description": "A frame the server sends to a device.", **_strict(server)}
    defs["ConsoleClientFrame"] = {"description": "A frame the office console sends.", **_strict(console_client)}
    defs["ConsoleServerFrame"] = {"description": "A frame the server sends to a console.", **_strict(console_server)}
    frames = sorted(
        {ref["$ref"] for union in (device, server, console_client, console_server) for ref in union["anyOf"]}
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "caresync protocol frames, version 1",
        "description": (
            "One JSON text frame of the caresync protocol (docs/protocol.md). Validate a frame "
            "against the root (any frame), or against $defs/DeviceFrame, $defs/ServerFrame, "
            "$defs/ConsoleClientFrame or $defs/ConsoleServerFrame for one direction. Receivers "
            "ignore properties they do not know."
        ),
        "type": "object",
        "required": ["type"],
        "oneOf": [{"$ref": ref} for ref in frames],
        "examples": [msgspec.json.decode(encode(example)) for example in _EXAMPLES],
        "$defs": defs,
    }


_PROSE_KEYWORDS = frozenset({"title", "description"})
"""Keywords whose text msgspec takes from docstrings."""


def _strict(node: Any) -> Any:
    """Drop OpenAPI-only keywords, make tagged unions ``oneOf`` and tidy docstring prose."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    tagged = "discriminator" in node
    out = {
        key: tidy_prose(value) if key in _PROSE_KEYWORDS and isinstance(value, str) else _strict(value)
        for key, value in node.items()
        if key != "discriminator"
    }
    if tagged and "anyOf" in out:
        out["oneOf"] = out.pop("anyOf")
    return out


def tidy_prose(text: str) -> str:
    """A docstring's text as published: common indentation and surrounding blank lines
    removed. msgspec 0.22 dedents docstrings and 0.23 keeps their indentation; the
    published schema must not depend on which one is installed."""
    return inspect.cleandoc(text)


def frames_schema_json() -> str:
    """The schema as stable, indented JSON text with a trailing newline."""
    encoded = msgspec.json.encode(frames_schema(), order="sorted")
    return msgspec.json.format(encoded, indent=2).decode() + "\n"
