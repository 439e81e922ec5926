"""Cases about standard and clean sync (docs/protocol.md §4, §4a)."""

from __future__ import annotations

from server.conformance.case import Level, case
from server.conformance.context import CaseContext, check


@case(
    "sync.acks-last-page",
    Level.MUST,
    "§4",
    "After a standard sync brings changes, the client acknowledges the last page (the node records the head).",
)
async def sync_acks_last_page(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    _epoch, head = await ctx.office.head()
    ctx.proxy.faults.drop_change_seqs.update({head + 1, head + 2})
    await ctx.office.changes(2)
    await ctx.client.request("sync")
    await ctx.wait_level()
    await ctx.wait_recorded_ack("the node to record the sync's last page")


@case(
    "sync.upload-results",
    Level.MUST,
    "§6",
    "A standard sync uploads the outbox; each recording gets one result and is stored once.",
)
async def sync_upload_results(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    visit = ctx.nut.carer.visit_ids[1]
    answer = await ctx.client.request("record", kind="check_in", carer_id=ctx.feed, visit_id=visit)
    synced = await ctx.client.request("sync")
    results = [r for r in synced.get("results", []) if r.get("mutation_id") == answer.get("mutation_id")]
    check(
        len(results) == 1 and results[0].get("status") == "applied",
        "one result, applied",
        str(synced.get("results")),
    )
    stored = [r for r in await ctx.office.stored_records() if r.kind == "check_in"]
    check(len(stored) == 1, "the check-in stored once", f"stored {len(stored)} time(s)")


@case(
    "clean-sync.keeps-outbox",
    Level.MUST,
    "§4a",
    "A clean sync uploads pending recordings first, then swaps in the snapshot at the head.",
)
async def clean_sync_keeps_outbox(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    visit = ctx.nut.carer.visit_ids[2]
    await ctx.client.request("record", kind="visit_note", carer_id=ctx.feed, visit_id=visit, text="before clean sync")
    await ctx.office.changes(2)
    await ctx.client.request("clean_sync")
    await ctx.wait_level()
    await ctx.wait_state(lambda s: s.outbox == 0, "an empty outbox")
    notes = [r for r in await ctx.office.stored_records() if r.kind == "visit_note"]
    check(len(notes) == 1, "the note stored once", f"stored {len(notes)} time(s)")
    sent = [f for f in ctx.log.frames if f.direction == "device" and f.type in ("sync_request", "clean_sync_request")]
    upload = next((i for i, f in enumerate(sent) if f.type == "sync_request" and (f.body or {}).get("mutations")), None)
    clean = next((i for i, f in enumerate(sent) if f.type == "clean_sync_request"), None)
    check(
        upload is not None and clean is not None and upload < clean,
        "the note uploaded in a sync_request before the first clean_sync_request",
        f"upload at request {upload}, first clean_sync_request at {clean}",
    )


@case(
    "resync.in-sync-response",
    Level.MUST,
    "§4a",
    "A client whose sync_response lists a feed in resync (a demand not told live) clean-syncs it by itself.",
)
async def resync_in_sync_response(ctx: CaseContext) -> None:
    ctx.proxy.faults.drop_types.add("resync_required")
    await ctx.start_client()
    await ctx.wait_level()
    await ctx.office.demand_resync()
    await ctx.client.request("sync")
    told = ctx.log.matching(lambda f: f.type == "sync_response" and ctx.feed in (f.body or {}).get("resync", []))
    check(bool(told), "a sync_response listing the feed in resync", "none seen (see the frames below)")
    await ctx.wait_frame(lambda f: f.type == "clean_sync_request", "a clean_sync_request from the client")
    await ctx.wait_until_served_resync()
    await ctx.wait_level()


@case(
    "sync.http-fallback",
    Level.MUST,
    "§8",
    "Over HTTP alone, a standard sync uploads the outbox, brings the changes missed and acknowledges them.",
)
async def sync_http_fallback(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    await ctx.client.request("offline")
    opened = ctx.proxy.websocket_connections
    await ctx.office.changes(2)
    visit = ctx.nut.carer.visit_ids[1]
    answer = await ctx.client.request("record", kind="check_in", carer_id=ctx.feed, visit_id=visit)
    synced = await ctx.client.request("sync", transport="http")
    results = [r for r in synced.get("results", []) if r.get("mutation_id") == answer.get("mutation_id")]
    check(
        len(results) == 1 and results[0].get("status") == "applied",
        "one result, applied",
        str(synced.get("results")),
    )
    stored = [r for r in await ctx.office.stored_records() if r.kind == "check_in"]
    check(len(stored) == 1, "the check-in stored once", f"stored {len(stored)} time(s)")
    await ctx.wait_level()
    await ctx.wait_recorded_ack("the node to record the HTTP sync's positions (POST /api/v1/device/ack)")
    _check_over_http_alone(ctx, opened, "/api/v1/device/sync")


@case(
    "clean-sync.http-fallback",
    Level.MUST,
    "§8",
    "Over HTTP alone, a clean sync (POST /api/v1/device/clean-sync) swaps in the snapshot at the head.",
)
async def clean_sync_http_fallback(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    await ctx.client.request("offline")
    opened = ctx.proxy.websocket_connections
    await ctx.office.changes(2)
    await ctx.office.cancel_visit(2)
    await ctx.client.request("clean_sync", transport="http")
    await ctx.wait_level()
    _check_over_http_alone(ctx, opened, "/api/v1/device/clean-sync")


def _check_over_http_alone(ctx: CaseContext, opened: int, path: str) -> None:
    """No WebSocket was opened since ``opened`` of them, and the call went to ``path``."""
    check(
        ctx.proxy.websocket_connections == opened,
        f"no WebSocket opened for a call over HTTP alone ({path})",
        f"{ctx.proxy.websocket_connections - opened} opened",
    )
    calls = ctx.log.matching(lambda f: f.direction == "proxy" and f.text.startswith(f"HTTP POST {path} "))
    check(bool(calls), f"the call over POST {path}", "no such call seen")
