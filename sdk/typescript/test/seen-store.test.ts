// The carer's acknowledgement on the device (docs/protocol.md 4b): noted with the change that
// needs it (the same rule as protocol/seen_policy.py), kept until answered, dropped with the
// feed's data.
import assert from "node:assert/strict";
import { test } from "node:test";

import type { Change, VisitView } from "../src/frames.generated.js";
import { MemoryStore } from "../src/memory-store.js";
import { needsSeen } from "../src/seen-policy.js";

const COMMITTED = "2026-12-07T06:00:00.000Z";

function visit(id: string, startsInHours: number): VisitView {
  const starts = Date.parse(COMMITTED) + startsInHours * 3_600_000;
  return {
    id,
    branch_id: "b",
    client: { id: "c", name: "Mrs Patel", address: "" },
    starts_at: new Date(starts).toISOString(),
    ends_at: new Date(starts + 45 * 60_000).toISOString(),
    status: "scheduled",
    carer_ids: ["k"],
    tasks: [],
    version: 1,
    notes: "",
  };
}

function upsert(seq: number, v: VisitView, needsSeen = false): Change {
  return { type: "change", feed: "k", epoch: 1, seq, committed_at: COMMITTED, payload: { kind: "visit_upsert", needs_seen: needsSeen, visit: v } };
}

function removed(seq: number, id: string): Change {
  return { type: "change", feed: "k", epoch: 1, seq, committed_at: COMMITTED, payload: { kind: "visit_removed", visit_id: id, reason: "reassigned" } };
}

test("the window: inside it, under way, ended, beyond it, off", () => {
  assert.equal(needsSeen(upsert(1, visit("v", 2)), null, 24), true);
  assert.equal(needsSeen(upsert(1, visit("v", -0.5)), null, 24), true);
  assert.equal(needsSeen(upsert(1, visit("v", -2)), null, 24), false);
  assert.equal(needsSeen(upsert(1, visit("v", 30)), null, 24), false);
  assert.equal(needsSeen(upsert(1, visit("v", 2)), null, 0), false);
  assert.equal(needsSeen(removed(1, "v"), null, 24), false, "a removal of a visit never held");
});

test("a change the office marked needs it whatever the window, even with the window off", async () => {
  assert.equal(needsSeen(upsert(1, visit("v", 24 * 7), true), null, 24), true);
  assert.equal(needsSeen(upsert(1, visit("v", 2), true), null, 0), true);
  const store = new MemoryStore();
  await store.ensureFeed("k", 1, "Kate");
  await store.apply(upsert(1, visit("next-week", 24 * 7), true), 0);
  await store.apply(upsert(2, visit("later", 24 * 7)), 0);
  assert.deepEqual((await store.awaitingSeen()).map((a) => [a.seq, a.visitId]), [[1, "next-week"]]);
});

test("changes inside the window await the carer; a removal is judged by the copy held", async () => {
  const store = new MemoryStore();
  await store.ensureFeed("k", 1, "Kate");
  await store.apply(upsert(1, visit("soon", 1)), 24);
  await store.apply(upsert(2, visit("next-week", 24 * 7)), 24);
  await store.apply(removed(3, "soon"), 24);
  await store.apply(removed(4, "next-week"), 24);
  assert.deepEqual((await store.awaitingSeen()).map((a) => [a.seq, a.visitId]), [[1, "soon"], [3, "soon"]]);
  assert.deepEqual(await store.awaitingSeen("someone-else"), []);
});

test("an acknowledgement is kept until answered, its first time standing; a reset drops the old copy's", async () => {
  const store = new MemoryStore();
  await store.ensureFeed("k", 1, "Kate");
  await store.apply(upsert(1, visit("soon", 1)), 24);
  await store.apply(upsert(2, visit("soon", 2)), 24);
  await store.markSeen([{ feed: "k", epoch: 1, seq: 1 }, { feed: "k", epoch: 1, seq: 2 }], "2026-12-07T06:05:00.000Z");
  await store.markSeen([{ feed: "k", epoch: 1, seq: 1 }], "2026-12-07T06:06:00.000Z");
  assert.deepEqual(await store.awaitingSeen(), []);
  assert.deepEqual(await store.unsentSeen(), [{ feed: "k", epoch: 1, seenAt: "2026-12-07T06:05:00.000Z", seqs: [1, 2] }]);
  await store.seenAnswered("k", 1, [1, 2]);
  assert.deepEqual(await store.unsentSeen(), []);
  await store.apply(upsert(3, visit("soon", 3)), 24);
  await store.markSeen([{ feed: "k", epoch: 1, seq: 3 }], "2026-12-07T06:07:00.000Z");
  await store.resetFeed("k", 2);
  assert.deepEqual([await store.awaitingSeen(), await store.unsentSeen()], [[], []]);
});
