from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from protocol.codec import encode
from protocol.schema import frames_schema, frames_schema_json, tidy_prose
from tests.protocol.test_codec import DEVICE_FRAMES, SERVER_FRAMES

COMMITTED = Path(__file__).parents[2] / "docs" / "frames.schema.json"
FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _rfc3339(value: object) -> bool:
    """RFC 3339 date-time: a full date and time with an offset (no extra package needed)."""
    if not isinstance(value, str) or not re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value
    ):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def _validator(entry: str | None = None) -> jsonschema.Draft202012Validator:
    schema: dict[str, Any] = json.loads(COMMITTED.read_text())
    if entry is not None:
        schema = {**schema, "oneOf": [{"$ref": f"#/$defs/{entry}"}]}
    return jsonschema.Draft202012Validator(schema, format_checker=FORMATS)


def test_committed_schema_matches_the_frames() -> None:
    assert COMMITTED.read_text() == frames_schema_json(), (
        "docs/frames.schema.json is stale: run `caresync schema > docs/frames.schema.json`"
    )


def test_the_published_schema_is_valid_strict_2020_12() -> None:
    schema = json.loads(COMMITTED.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and "oneOf" in schema
    assert "discriminator" not in COMMITTED.read_text()


def test_every_example_frame_validates_as_published() -> None:
    root = _validator()
    for frame in [*DEVICE_FRAMES, *SERVER_FRAMES]:
        root.validate(json.loads(encode(frame)))
    for frame in DEVICE_FRAMES:
        _validator("DeviceFrame").validate(json.loads(encode(frame)))
    for frame in SERVER_FRAMES:
        _validator("ServerFrame").validate(json.loads(encode(frame)))
    for example in frames_schema()["examples"]:
        root.validate(example)


@pytest.mark.parametrize(
    "frame",
    [
        {},
        {"type": "teleport"},
        {"type": "ack", "feed": "k1", "epoch": 0, "seq": 1},
        {"type": "heartbeat", "server_time": "yesterday"},
        {"type": "sync_request"},
        "not an object",
    ],
)
def test_invalid_frames_are_refused_by_the_schema(frame: object) -> None:
    assert not _validator().is_valid(frame)


def test_times_are_emitted_with_exactly_milliseconds() -> None:
    times = re.compile(rb'"\d{4}-\d\d-\d\dT[^"]*"')
    for frame in SERVER_FRAMES:
        for found in times.findall(encode(frame)):
            assert re.fullmatch(rb'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"', found), found


def test_docstring_prose_is_published_without_its_indentation() -> None:
    indented = "A retried mutation.\n\n    It answers ``duplicate``\n    with the first status.\n    "
    assert tidy_prose(indented) == "A retried mutation.\n\nIt answers ``duplicate``\nwith the first status."


def test_no_description_in_the_schema_keeps_a_docstring_indentation() -> None:
    def prose(node: Any) -> list[str]:
        if isinstance(node, list):
            return [text for item in node for text in prose(item)]
        if not isinstance(node, dict):
            return []
        own = [v for k, v in node.items() if k in ("title", "description") and isinstance(v, str)]
        return own + [text for k, v in node.items() if k not in ("title", "description") for text in prose(v)]

    texts = prose(frames_schema())
    assert texts, "the schema has descriptions"
    indented = [text for text in texts if any(line.startswith((" ", "\t")) for line in text.splitlines())]
    assert indented == []
