"""Cases about the outbox: what the carer recorded is uploaded once, never lost, never
twice, across kills and cut uploads (docs/protocol.md §4, §6)."""

from __future__ import annotations

import contextlib
import uuid

from server.conformance.adapter import AdapterError
from server.conformance.case import Level, case
from server.conformance.context import CaseContext, check
from server.conformance.frame_log import SeenFrame


async def _record_notes(ctx: CaseContext, count: int) -> list[str]:
    """Record ``count`` visit notes with texts no other case uses; return the texts."""
    texts = [f"conformance note {i} {uuid.uuid4().hex[:8]}" for i in range(count)]
    visit = ctx.nut.carer.visit_ids[0]
    for text in texts:
        await ctx.client.request("record", kind="visit_note", carer_id=ctx.feed, visit_id=visit, text=text)
    return texts


async def _check_stored_once(ctx: CaseContext, texts: list[str]) -> None:
    await ctx.wait_state(lambda s: s.outbox == 0, "an empty outbox after the sync")
    stored = [r.payload.get("text") for r in await ctx.office.stored_records() if r.kind == "visit_note"]
    counts = {text: stored.count(text) for text in texts}
    check(
        all(n == 1 for n in counts.values()),
        "every recorded note stored exactly once",
        ", ".join(f"{text!r} stored {n} time(s)" for text, n in counts.items()),
    )


@case(
    "outbox.survives-kill",
    Level.MUST,
    "§4",
    "Recordings made offline survive a kill -9 and are uploaded after the restart.",
)
async def outbox_survives_kill(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    await ctx.client.request("offline")
    texts = await _record_notes(ctx, 3)
    await ctx.kill_client()
    await ctx.restart_client()
    await ctx.client.request("sync")
    await _check_stored_once(ctx, texts)


@case(
    "outbox.idempotent-retry",
    Level.MUST,
    "§4",
    "Killed (-9) right after sending an upload, the client retries it after the restart: nothing lost, nothing twice.",
)
async def outbox_idempotent_retry(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    texts = await _record_notes(ctx, 3)
    sent: list[SeenFrame] = []

    def kill_on_upload(frame: SeenFrame) -> None:
        if frame.type == "sync_request" and (frame.body or {}).get("mutations") and not sent:
            sent.append(frame)
            ctx.client.kill()

    ctx.proxy.faults.on_device_frame.append(kill_on_upload)
    with contextlib.suppress(AdapterError):  # the kill cuts the answer short
        await ctx.client.ask("sync")
    await ctx.wait_frame(lambda f: bool(sent), "a sync_request carrying the recordings")
    await ctx.kill_client()
    ctx.proxy.faults.on_device_frame.clear()
    await ctx.restart_client()
    await ctx.client.request("sync")
    await _check_stored_once(ctx, texts)


@case(
    "outbox.conflict-kept",
    Level.MUST,
    "§6",
    "A recording answered applied_with_conflict is done: it leaves the outbox and is not sent again.",
)
async def outbox_conflict_kept(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    await ctx.office.cancel_visit(0)
    await ctx.wait_level()
    visit = ctx.nut.carer.visit_ids[0]
    await ctx.client.request("record", kind="check_in", carer_id=ctx.feed, visit_id=visit)
    await ctx.client.request("sync")
    await ctx.wait_state(lambda s: s.outbox == 0, "an empty outbox after the sync")
    await ctx.client.request("sync")
    uploads = [f for f in ctx.log.of_type("sync_request", "device") if (f.body or {}).get("mutations")]
    check(len(uploads) == 1, "the check-in uploaded once", f"uploaded in {len(uploads)} sync_request(s)")
    stored = [r for r in await ctx.office.stored_records() if r.kind == "check_in"]
    check(
        len(stored) == 1 and stored[0].conflict == "visit_cancelled",
        "one check-in stored, flagged visit_cancelled",
        str(stored),
    )
