"""A case that mixes the faults of the other cases, as a fleet meets them in a day:
cuts, lost and repeated pushes, a slow network, a node restart, recordings made through
it all (docs/protocol.md §2, §4). What the fleet's ``storm`` and ``flaky`` scenarios do
to many lean devices, this does to the client under test, and then checks the promise:
nothing lost, nothing twice, the node's record of acks level with the feed (so the
mismatch detector has nothing to raise)."""

from __future__ import annotations

import random
import uuid

from server.conformance.case import Level, case
from server.conformance.context import CaseContext, check

ROUNDS = 24
"""One office change a round; faults on some rounds: about 15 seconds in all."""
SEED = 20261207
"""Fixed: every run plays the same sequence of faults."""
ROUND_PAUSE_S = 0.3


@case(
    "soak.faults-converge",
    Level.MUST,
    "§2",
    "Through cuts, lost and repeated pushes, delays and a node restart, the client ends level, nothing lost or twice.",
    timeout_s=90.0,
)
async def faults_converge(ctx: CaseContext) -> None:
    rng = random.Random(SEED)
    await ctx.start_client()
    await ctx.wait_level()
    visit = ctx.nut.carer.visit_ids[0]
    notes: list[str] = []
    for round_number in range(ROUNDS):
        _epoch, head = await ctx.office.head()
        roll = rng.random()
        if roll < 0.2:
            ctx.proxy.faults.drop_change_seqs.add(head + 1)
        elif roll < 0.35:
            ctx.proxy.faults.duplicate_change_seqs.add(head + 1)
        ctx.proxy.faults.delay_s = 0.05 if roll > 0.8 else 0.0
        await ctx.office.change_visit(round_number)
        if round_number % 5 == 2:
            ctx.proxy.cut_all("soak: the network blinked")
        if round_number % 4 == 1:
            text = f"soak note {round_number} {uuid.uuid4().hex[:8]}"
            notes.append(text)
            await ctx.client.request("record", kind="visit_note", carer_id=ctx.feed, visit_id=visit, text=text)
        if round_number == ROUNDS // 2:
            await ctx.restart_node()
        await ctx.settle(ROUND_PAUSE_S)
    ctx.proxy.faults.delay_s = 0.0
    ctx.proxy.faults.drop_change_seqs.clear()
    ctx.proxy.faults.duplicate_change_seqs.clear()
    await ctx.wait_state(lambda s: s.connected, "the client connected again once the faults stopped", timeout=20.0)
    await ctx.wait_level(timeout=20.0)
    _epoch, head = await ctx.office.head()
    ctx.proxy.faults.drop_change_seqs.add(head + 1)
    await ctx.office.change_visit()
    await ctx.wait_level()  # the last push was lost too, on a quiet connection: the heartbeat tells
    await ctx.client.request("sync")
    await ctx.wait_state(lambda s: s.outbox == 0, "an empty outbox")
    stored = [r.payload.get("text") for r in await ctx.office.stored_records() if r.kind == "visit_note"]
    wrong = {text: stored.count(text) for text in notes if stored.count(text) != 1}
    check(not wrong, f"each of the {len(notes)} notes stored exactly once", f"stored {wrong}")
    await ctx.wait_recorded_ack("the node to record the client level with its feed")
