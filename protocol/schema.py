"""JSON Schema of every frame, generated from the msgspec structs."""

from __future__ import annotations

from typing import Any

import msgspec

from protocol.codec import ConsoleClientFrame, ConsoleServerFrame
from protocol.frames import DeviceFrame, ServerFrame


def frames_schema() -> dict[str, Any]:
    """The schema document committed as docs/frames.schema.json."""
    (device, server, console_client, console_server), components = msgspec.json.schema_components(
        [DeviceFrame, ServerFrame, ConsoleClientFrame, ConsoleServerFrame]
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "caresync protocol frames",
        "description": (
            "deviceFrame: sent by a device; serverFrame: sent by the server to a device; "
            "consoleClientFrame / consoleServerFrame: the office console's live feed."
        ),
        "properties": {
            "deviceFrame": device,
            "serverFrame": server,
            "consoleClientFrame": console_client,
            "consoleServerFrame": console_server,
        },
        "$defs": components,
    }


def frames_schema_json() -> str:
    """The schema as stable, indented JSON text with a trailing newline."""
    encoded = msgspec.json.encode(frames_schema(), order="sorted")
    return msgspec.json.format(encoded, indent=2).decode() + "\n"
