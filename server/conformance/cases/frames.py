"""Cases about frames the client does not expect: unknown fields, and frames it cannot
decode, frames as large as the protocol allows (docs/protocol.md §1, §4a)."""

from __future__ import annotations

import json
from typing import Any

from protocol import MAX_FRAME_BYTES
from server.conformance.case import Level, case
from server.conformance.context import CaseContext, check
from server.conformance.faults import Rewrite

UNDECODABLE = (
    '{"type":"change","feed":',
    '{"type":"x_frame_of_a_later_version","data":1}',
    '{"type":"heartbeat","heads":"not a list","server_time":null}',
)
"""Malformed JSON, an unknown type, a field of the wrong kind."""


def _with_unknown_fields(value: Any) -> Any:
    """``value`` with an unknown field added to every object in it."""
    if isinstance(value, dict):
        return {**{k: _with_unknown_fields(v) for k, v in value.items()}, "x_later_field": {"n": [1, "two"]}}
    if isinstance(value, list):
        return [_with_unknown_fields(v) for v in value]
    return value


@case(
    "frames.unknown-fields-ignored",
    Level.MUST,
    "§1",
    "Fields the client does not know, in any object of any frame, are ignored.",
)
async def unknown_fields_ignored(ctx: CaseContext) -> None:
    ctx.proxy.faults.rewrite = _with_unknown_fields
    await ctx.start_client()
    await ctx.wait_level()
    await ctx.office.changes(2)
    await ctx.wait_level()


@case(
    "frames.undecodable-kept-open",
    Level.MUST,
    "§4a",
    "Frames the client cannot decode never close its connection nor stop it applying later changes.",
)
async def undecodable_kept_open(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    opened = ctx.proxy.websocket_connections
    for text in UNDECODABLE:
        check(ctx.proxy.inject(text) == 1, "one open connection to inject into", "none open")
    await ctx.settle(1.0)
    await ctx.office.change_visit()
    await ctx.wait_level()
    check(
        ctx.proxy.websocket_connections == opened and len(ctx.proxy.open_websockets()) == 1,
        "the same connection still open",
        f"{ctx.proxy.websocket_connections - opened} new connection(s), {len(ctx.proxy.open_websockets())} open",
    )


def _padded_to(frame_bytes: int) -> Rewrite:
    """A rewrite padding the next ``change`` with an unknown field to ``frame_bytes`` of JSON (once)."""
    done = False

    def rewrite(body: dict[str, Any]) -> dict[str, Any]:
        nonlocal done
        if done or body.get("type") != "change":
            return body
        done = True
        size = len(json.dumps({**body, "x_padding": ""}, separators=(",", ":")).encode())
        return {**body, "x_padding": "p" * (frame_bytes - size)}

    return rewrite


@case(
    "frames.near-size-limit",
    Level.MUST,
    "§1",
    "A frame from the node just under the frame size limit is applied, and the client keeps working.",
)
async def near_size_limit(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    opened = ctx.proxy.websocket_connections
    ctx.proxy.faults.rewrite = _padded_to(MAX_FRAME_BYTES - 16)
    await ctx.office.change_visit()
    await ctx.wait_frame(lambda f: f.direction == "proxy" and "x_padding" in f.text, "the padded change")
    await ctx.wait_level()
    ctx.proxy.faults.rewrite = None
    await ctx.office.change_visit(1)
    await ctx.wait_level()
    check(
        ctx.proxy.websocket_connections == opened,
        "the same connection kept",
        f"{ctx.proxy.websocket_connections - opened} new connection(s)",
    )
