"""Cases about the carer's acknowledgement (docs/protocol.md §4b): sent only when the carer
acknowledges, recorded once, and never lost to a kill before it reached the node."""

from __future__ import annotations

import asyncio
import time

from server.conformance.case import Level, case
from server.conformance.context import LEVEL_TIMEOUT_S, POLL_S, CaseContext, check
from server.conformance.failures import CaseFailed


@case(
    "seen.recorded-once",
    Level.MUST,
    "§4b",
    "A change the carer must acknowledge awaits it; acknowledged twice, `seen` names only held changes, recorded once.",
)
async def seen_recorded_once(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.office.visit_soon()
    await ctx.wait_level()
    epoch, head = await ctx.office.head()
    awaiting = (await ctx.client.request("awaiting_seen"))["changes"]
    listed = {(c.get("feed"), c.get("epoch"), c.get("seq")) for c in awaiting if isinstance(c, dict)}
    check((ctx.feed, epoch, head) in listed, f"change {epoch}:{head} awaiting the carer", f"awaiting {awaiting}")
    sent_unasked = ctx.log.of_type("seen", "device")
    check(not sent_unasked, "no `seen` before the carer acknowledged", f"{len(sent_unasked)} sent")
    await ctx.client.request("acknowledge")
    await _wait_recorded(ctx, epoch, head)
    await ctx.client.request("acknowledge")
    await ctx.settle(0.5)
    held = (await ctx.state()).positions.get(ctx.feed)
    for frame in ctx.log.of_type("seen", "device"):
        body = frame.body or {}
        beyond = [s for s in body.get("seqs", []) if held is None or body.get("epoch") != held[0] or s > held[1]]
        check(
            not beyond, f"`seen` naming only changes held (up to {held})", f"seqs {beyond} in epoch {body.get('epoch')}"
        )
    recorded = [r for r in await ctx.office.recorded_seen() if r[:2] == (epoch, head)]
    check(len(recorded) == 1, f"change {epoch}:{head} recorded once", f"recorded {recorded}")


@case(
    "seen.marked-notes",
    Level.SHOULD,
    "§4b",
    "A change the office marked (`visit_upsert.needs_seen`) awaits the carer even for a visit beyond the window.",
)
async def seen_marked_notes(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.office.marked_notes_far_ahead()
    await ctx.wait_level()
    epoch, head = await ctx.office.head()
    awaiting = (await ctx.client.request("awaiting_seen"))["changes"]
    listed = {(c.get("feed"), c.get("epoch"), c.get("seq")) for c in awaiting if isinstance(c, dict)}
    expected = f"the marked change {epoch}:{head} awaiting the carer"
    check((ctx.feed, epoch, head) in listed, expected, f"awaiting {awaiting}")


@case(
    "seen.survives-kill",
    Level.MUST,
    "§4b",
    "Acknowledged while offline, then killed (-9): the restarted client sends `seen` and the node records it.",
)
async def seen_survives_kill(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.office.visit_soon()
    await ctx.wait_level()
    epoch, head = await ctx.office.head()
    await ctx.client.request("offline")
    await ctx.client.request("acknowledge")
    await ctx.kill_client()
    await ctx.restart_client()
    await _wait_recorded(ctx, epoch, head)


async def _wait_recorded(ctx: CaseContext, epoch: int, seq: int, timeout: float = LEVEL_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        recorded = await ctx.office.recorded_seen()
        if any(r[:2] == (epoch, seq) for r in recorded):
            return
        if time.monotonic() > deadline:
            raise CaseFailed(
                f"the node to record that the carer saw {epoch}:{seq} within {timeout:.0f} s", f"recorded {recorded}"
            )
        await asyncio.sleep(POLL_S)
