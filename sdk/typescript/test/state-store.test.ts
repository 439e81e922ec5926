// The store rules every shipped store shares (StateStore, here in memory): a change only on
// the position before it, staging apart from the live copy, an atomic swap, the outbox kept.
import assert from "node:assert/strict";
import { test } from "node:test";

import type { Change, CleanSyncResponse, VisitView } from "../src/frames.generated.js";
import { MemoryStore } from "../src/memory-store.js";

function visit(id: string, version = 1): VisitView {
  return {
    id,
    branch_id: "b",
    client: { id: "c", name: "Mrs Patel", address: "" },
    starts_at: "2026-11-26T10:30:00.000Z",
    ends_at: "2026-11-26T11:15:00.000Z",
    status: "scheduled",
    carer_ids: ["f"],
    tasks: [],
    version,
    notes: "",
  };
}

function upsert(seq: number, id: string): Change {
  return { type: "change", feed: "f", epoch: 1, seq, committed_at: "2026-11-26T09:30:00.000Z", payload: { kind: "visit_upsert", needs_seen: false, visit: visit(id, seq) } };
}

function page(snapshot: string, visits: VisitView[], nextCursor: string | null): CleanSyncResponse {
  return { type: "clean_sync_response", request_id: "r", feed: "f", snapshot_id: snapshot, epoch: 2, seq: 9, page: 1, pages: 2, visits, next_cursor: nextCursor };
}

test("a change applies only on the position just before it, and then moves it", async () => {
  const store = new MemoryStore();
  await store.ensureFeed("f", 1, "Amara");
  await assert.rejects(store.apply(upsert(2, "v1")), RangeError);
  await store.apply(upsert(1, "v1"));
  await assert.rejects(store.apply(upsert(1, "v1")), RangeError);
  await store.apply({ ...upsert(2, "v1"), payload: { kind: "visit_removed", visit_id: "v1", reason: "reassigned" } });
  assert.deepEqual(await store.positions(), [{ feed: "f", epoch: 1, seq: 2 }]);
  assert.deepEqual(await store.visits("f"), []);
});

test("clean-sync pages are staged apart and swapped in whole; a new snapshot starts the staging over", async () => {
  const store = new MemoryStore();
  await store.ensureFeed("f", 1, "Amara");
  await store.apply(upsert(1, "old"));
  await store.stagePage(page("s1", [visit("stale")], "s1.2"));
  await store.stagePage(page("s2", [visit("a")], "s2.2"));
  assert.deepEqual(await store.staged("f"), { snapshotId: "s2", nextCursor: "s2.2" });
  await assert.rejects(store.swapIn("f"), RangeError, "not complete");
  assert.deepEqual((await store.visits("f")).map((v) => v.id), ["old"], "the old copy stays usable");
  await store.stagePage(page("s2", [visit("b")], null));
  assert.deepEqual(await store.swapIn("f"), { feed: "f", epoch: 2, seq: 9 });
  assert.deepEqual((await store.visits("f")).map((v) => v.id).sort(), ["a", "b"]);
  assert.equal(await store.staged("f"), null);
});

test("recordings keep increasing ids and stay in the outbox until answered, whatever happens to the feeds", async () => {
  const store = new MemoryStore();
  await store.ensureFeed("f", 1, "Amara");
  const note = (id: number) => ({ kind: "visit_note" as const, mutation_id: id, carer_id: "f", visit_id: "v", captured_at: "2026-11-26T09:30:00.000Z", text: "n" });
  const first = await store.record(note, { begin: { visitId: "v", kind: "check-in", detail: "", since: "2026-11-26T09:30:00.000Z" } });
  const second = await store.record(note, { end: { visitId: "v", kind: "check-in", detail: "" } });
  assert.deepEqual([first.mutation_id, second.mutation_id], [1, 2]);
  assert.deepEqual(await store.workInProgress(), []);
  await store.forgetFeedsExcept([]);
  await store.resetFeed("g", 3);
  assert.equal(await store.pendingCount(), 2);
  await store.recordResults([{ mutation_id: 1, status: "applied", reason: null, record_id: "r1", original_status: null }]);
  assert.deepEqual((await store.pending(10)).map((m) => m.mutation_id), [2]);
  assert.equal((await store.result(1))?.record_id, "r1");
  assert.equal((await store.record(note)).mutation_id, 3, "never reused");
});
