"""Cases about what the client sends: uploads split to fit the frame size limit
(docs/protocol.md §1, §9)."""

from __future__ import annotations

from protocol import MAX_FRAME_BYTES, MAX_MUTATIONS_PER_SYNC
from protocol.limits import MAX_LONG_TEXT_CHARS
from server.conformance.case import Level, case
from server.conformance.context import CaseContext, check
from server.conformance.frame_log import SeenFrame

LONG_NOTES = 30
"""Notes of the longest text allowed, in three-byte characters: about 900 KB in all."""
SHORT_NOTES = MAX_MUTATIONS_PER_SYNC + 10
"""More small recordings than one ``sync_request`` may carry."""
WIDE_CHARACTER = "\u20ac"
"""The euro sign: three bytes of UTF-8, so a note's bytes are three times its characters."""


def _uploads(frames: list[SeenFrame]) -> list[SeenFrame]:
    return [f for f in frames if f.direction == "device" and f.type == "sync_request"]


@case(
    "frames.uploads-within-limit",
    Level.MUST,
    "§1",
    "Recordings that do not fit one frame go up over several sync_requests, each within 256 KiB and 200 mutations.",
    timeout_s=90.0,
)
async def uploads_within_limit(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    await ctx.client.request("offline")
    visit = ctx.nut.carer.visit_ids[0]
    texts: list[str] = []
    for i in range(LONG_NOTES):
        text = f"long note {i} " + WIDE_CHARACTER * (MAX_LONG_TEXT_CHARS - 20)
        texts.append(text)
        await ctx.client.request("record", kind="visit_note", carer_id=ctx.feed, visit_id=visit, text=text)
    for i in range(SHORT_NOTES):
        text = f"short note {i}"
        texts.append(text)
        await ctx.client.request("record", kind="visit_note", carer_id=ctx.feed, visit_id=visit, text=text)
    await ctx.start_client()
    await ctx.client.request("sync", timeout=60.0)
    await ctx.wait_state(lambda s: s.outbox == 0, "an empty outbox after the sync", timeout=30.0)
    sent = _uploads(ctx.log.frames)
    too_large = [f.size for f in sent if f.size > MAX_FRAME_BYTES]
    too_many = [len(f.body.get("mutations", [])) for f in sent if f.body and len(f.body.get("mutations", [])) > 200]
    check(
        not too_large and not too_many,
        f"every sync_request within {MAX_FRAME_BYTES} bytes and {MAX_MUTATIONS_PER_SYNC} mutations",
        f"sync_requests of {too_large} bytes, of {too_many} mutations",
    )
    closed = ctx.log.matching(lambda f: f.direction == "proxy" and "closed the WebSocket: 4103" in f.text)
    check(not closed, "no 4103 (frame too large) close", closed[0].text if closed else "")
    stored = [r.payload.get("text") for r in await ctx.office.stored_records() if r.kind == "visit_note"]
    missing = [t[:20] for t in texts if stored.count(t) != 1]
    check(
        not missing and len(stored) == len(texts),
        f"all {len(texts)} notes stored exactly once",
        f"{len(stored)} stored; not exactly once: {missing[:5]}",
    )
