"""Cases about acks: sent only after the change is durably applied, never ahead of what
is held (docs/protocol.md §2)."""

from __future__ import annotations

from server.conformance.case import Level, case
from server.conformance.context import CaseContext, check
from server.conformance.frame_log import SeenFrame


@case(
    "ack.after-apply",
    Level.MUST,
    "§2",
    "An acked change is durably applied: killed (-9) the moment its ack is sent, the client restarts holding it.",
)
async def ack_after_apply(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    epoch, head = await ctx.office.head()
    acked: list[int] = []

    def kill_on_ack(frame: SeenFrame) -> None:
        body = frame.body or {}
        if frame.type == "ack" and body.get("feed") == ctx.feed and int(body.get("seq", 0)) > head and not acked:
            acked.append(int(body["seq"]))
            ctx.client.kill()

    ctx.proxy.faults.on_device_frame.append(kill_on_ack)
    await ctx.office.change_visit()
    await ctx.wait_frame(lambda f: bool(acked), f"an ack of seq {head + 1}")
    await ctx.kill_client()
    ctx.proxy.faults.on_device_frame.clear()
    hellos = len(ctx.log.of_type("hello", "device"))
    await ctx.client.spawn()
    await ctx.client.request("start")
    await ctx.wait_frame(lambda f: len(ctx.log.of_type("hello", "device")) > hellos, "a hello after the restart")
    hello = ctx.log.of_type("hello", "device")[-1]
    reported = hello.position_of(ctx.feed)
    check(
        reported is not None and reported[0] == epoch and reported[1] >= acked[0],
        f"the restarted client to report at least {epoch}:{acked[0]}, the seq it acked",
        f"hello position {reported}",
    )


@case(
    "ack.never-ahead",
    Level.MUST,
    "§2",
    "No ack covers a change the client does not hold (a change past a gap is not acked until the gap is filled).",
)
async def ack_never_ahead(ctx: CaseContext) -> None:
    await ctx.start_client()
    await ctx.wait_level()
    _epoch, head = await ctx.office.head()
    ctx.proxy.faults.drop_change_seqs.add(head + 1)
    await ctx.office.changes(2)
    await ctx.settle(2.0)
    delivered = set(range(1, head + 1))
    for frame in ctx.log.frames:
        body = frame.body or {}
        if frame.direction == "server":
            delivered.update(_seqs_delivered(frame, ctx.feed))
        elif frame.type == "ack" and body.get("feed") == ctx.feed:
            seq = int(body.get("seq", 0))
            missing = sorted(set(range(1, seq + 1)) - delivered)
            check(not missing, f"an ack of seq {seq} only once 1..{seq} were received", f"{missing} never received")
    state = await ctx.state()
    recorded = await ctx.office.recorded_ack()
    held = state.positions.get(ctx.feed)
    check(
        recorded is None or (held is not None and recorded <= held),
        "the node's recorded ack at or below what the client holds",
        f"recorded {recorded}, held {held}",
    )


def _seqs_delivered(frame: SeenFrame, feed: str) -> set[int]:
    body = frame.body or {}
    if frame.type == "change" and body.get("feed") == feed:
        return {int(body["seq"])}
    if frame.type == "sync_response":
        return {int(c["seq"]) for c in body.get("changes", []) if isinstance(c, dict) and c.get("feed") == feed}
    if frame.type == "clean_sync_response" and body.get("feed") == feed and body.get("next_cursor") is None:
        return set(range(1, int(body.get("seq", 0)) + 1))
    return set()
