"""docs/protocol.md cannot drift from the frames: every frame and nested shape has a
table listing exactly its fields (and, for what a device sends, which are required), and
every error and close code the protocol defines is documented."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from protocol import frames
from protocol.errors import CloseCode, ErrorCode

DOC = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()

TABLES: dict[str, type[msgspec.Struct]] = {
    "`hello`": frames.Hello,
    "`ack`": frames.Ack,
    "`seen`": frames.Seen,
    "`seen_recorded`": frames.SeenRecorded,
    "`heartbeat`": frames.Heartbeat,
    "`sync_request`": frames.SyncRequest,
    "`clean_sync_request`": frames.CleanSyncRequest,
    "position": frames.FeedPosition,
    "`welcome`": frames.Welcome,
    "feed status": frames.FeedStatus,
    "tenant preferences": frames.TenantPreferences,
    "`change`": frames.Change,
    "`visit_upsert`": frames.VisitUpsert,
    "`visit_removed`": frames.VisitRemoved,
    "visit": frames.VisitView,
    "client": frames.ClientView,
    "task": frames.TaskView,
    "`sync_response`": frames.SyncResponse,
    "`clean_sync_response`": frames.CleanSyncResponse,
    "`resync_required`": frames.ResyncRequired,
    "`preferences`": frames.Preferences,
    "`error`": frames.Error,
    "mutation": frames.MutationBase,
    "`check_in`": frames.CheckIn,
    "`check_out`": frames.CheckOut,
    "location": frames.Location,
    "`task_outcome`": frames.TaskOutcome,
    "`visit_note`": frames.VisitNote,
    "`form_submission`": frames.FormSubmission,
    "result": frames.MutationResult,
}
KIND_ONLY = {"`check_in`", "`check_out`", "`task_outcome`", "`visit_note`", "`form_submission`"}
"""Mutation kinds: their tables list only the fields beyond the common ``mutation`` ones."""


def _table(heading: str) -> list[list[str]]:
    match = re.search(rf"^#### {re.escape(heading)}\n(.*?)(?=^#|\Z)", DOC, re.S | re.M)
    assert match, f"docs/protocol.md has no '#### {heading}' section"
    lines = match.group(1).splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("|")), len(lines))
    rows = []
    for line in lines[start:]:  # the first table only
        if not line.startswith("|"):
            break
        rows.append(line)
    assert len(rows) > 2, f"'{heading}' has no table"
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def _fields(kind: type[msgspec.Struct]) -> dict[str, bool]:
    """Field name -> required, without the tag."""
    info = msgspec.inspect.type_info(kind)
    assert isinstance(info, msgspec.inspect.StructType)
    return {f.encode_name: f.required for f in info.fields}


@pytest.mark.parametrize("heading", sorted(TABLES))
def test_each_table_lists_exactly_the_fields(heading: str) -> None:
    header, _rule, *rows = _table(heading)
    documented = {row[0].strip("`"): row for row in rows if row[0].strip("`") not in ("type", "kind")}
    expected = _fields(TABLES[heading])
    if heading in KIND_ONLY:
        common = set(_fields(frames.MutationBase))
        expected = {name: required for name, required in expected.items() if name not in common}
    assert set(documented) == set(expected), heading
    if "required" in header:
        column = header.index("required")
        for name, required in expected.items():
            said = documented[name][column]
            assert said.startswith("yes") == required, f"{heading}.{name}: documented {said!r}"


def test_every_frame_type_has_a_table() -> None:
    tags = {
        kind.__struct_config__.tag
        for kind in (*frames.DeviceFrame.__args__, *frames.ServerFrame.__args__)  # type: ignore[attr-defined]
    }
    assert {f"`{tag}`" for tag in tags} <= set(TABLES)


def test_every_code_is_documented() -> None:
    errors = DOC[DOC.index("### 7.1") : DOC.index("### 7.2")]
    for code in ErrorCode:
        assert re.search(rf"^\| `{code.value}` \|", errors, re.M), f"error code {code.value} is not in 7.1"
    closes = DOC[DOC.index("### 7.2") : DOC.index("### 7.3")]
    for close in CloseCode:
        assert re.search(rf"^\| {close.value} \|", closes, re.M), f"close code {close.value} is not in 7.2"
