// Server frames are checked against the generated schema definitions.
import assert from "node:assert/strict";
import { test } from "node:test";

import { decodeServerFrame, FrameDecodeError } from "../src/decode.js";

const visit = {
  id: "v1",
  branch_id: "b1",
  client: { id: "c1", name: "Mrs Patel", address: "1 High Street" },
  starts_at: "2026-11-26T10:30:00.000Z",
  ends_at: "2026-11-26T11:15:00.000Z",
  status: "scheduled",
  carer_ids: ["f"],
  tasks: [{ id: "t1", title: "Medication", position: 0, removed: false }],
  version: 3,
  notes: "",
};
const change = { type: "change", feed: "f", epoch: 1, seq: 4, committed_at: "2026-11-26T09:30:00.123Z", payload: { kind: "visit_upsert", visit } };

test("a change decodes, unknown fields kept and ignored", () => {
  const frame = decodeServerFrame(JSON.stringify({ ...change, extra: { deep: [1] } }));
  assert.equal(frame.type, "change");
  assert.deepEqual(frame.type === "change" && frame.payload, { ...change.payload, needs_seen: false });
});

test("absent fields with a default get it", () => {
  const frame = decodeServerFrame(JSON.stringify({ type: "heartbeat" }));
  assert.deepEqual(frame, { type: "heartbeat", heads: [], server_time: null });
});

for (const [why, text] of [
  ["not JSON", "{nope"],
  ["an unknown type", JSON.stringify({ type: "surprise" })],
  ["a seq of the wrong kind", JSON.stringify({ ...change, seq: "six" })],
  ["a seq below 1", JSON.stringify({ ...change, seq: 0 })],
  ["a payload of an unknown kind", JSON.stringify({ ...change, payload: { kind: "visit_exploded" } })],
  ["a required field missing", JSON.stringify({ type: "error", message: "m" })],
] as const) {
  test(`${why} does not decode`, () => {
    assert.throws(() => decodeServerFrame(text), FrameDecodeError);
  });
}
