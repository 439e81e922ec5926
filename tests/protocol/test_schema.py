from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from protocol.codec import encode
from protocol.schema import frames_schema, frames_schema_json
from tests.protocol.test_codec import DEVICE_FRAMES, SERVER_FRAMES

COMMITTED = Path(__file__).parents[2] / "docs" / "frames.schema.json"


def test_committed_schema_matches_the_frames() -> None:
    assert COMMITTED.read_text() == frames_schema_json(), (
        "docs/frames.schema.json is stale: run `caresync schema > docs/frames.schema.json`"
    )


def test_every_example_frame_validates_against_the_schema() -> None:

    schema = frames_schema()
    device = {**schema["properties"]["deviceFrame"], "$defs": schema["$defs"]}
    server = {**schema["properties"]["serverFrame"], "$defs": schema["$defs"]}
    for frame in DEVICE_FRAMES:
        jsonschema.validate(json.loads(encode(frame)), device)  # type: ignore[arg-type]
    for frame in SERVER_FRAMES:
        jsonschema.validate(json.loads(encode(frame)), server)  # type: ignore[arg-type]
