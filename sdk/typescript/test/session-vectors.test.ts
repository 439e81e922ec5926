// The device-session vectors generated from protocol/session_vectors.py: every one must hold
// for the TypeScript session exactly as it does for the Python one.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import type { FeedPosition } from "../src/frames.generated.js";
import { peek, type FramePeek } from "../src/peek.js";
import { DeviceFeedSession, type ChangeArrived, type ChangeOutcome, type DeviceCommand, type DeviceEvent } from "../src/session.js";
import { PACKAGE_DIR } from "./paths.js";

type Step =
  | { readonly event: DeviceEvent; readonly commands: readonly DeviceCommand[] }
  | { readonly classify: Omit<ChangeArrived, "type">; readonly outcome: ChangeOutcome };

interface Vectors {
  readonly format: number;
  readonly vectors: ReadonlyArray<{ readonly name: string; readonly held: readonly FeedPosition[]; readonly steps: readonly Step[] }>;
  readonly peek: ReadonlyArray<{ readonly raw: string; readonly seen: FramePeek }>;
}

const vectors = JSON.parse(readFileSync(join(PACKAGE_DIR, "test/vectors/device-session.json"), "utf8")) as Vectors;

test("the vectors are in the format this test reads", () => {
  assert.equal(vectors.format, 1);
  assert.ok(vectors.vectors.length >= 20);
});

for (const vector of vectors.vectors) {
  test(vector.name, () => {
    const held = new Map(vector.held.map((p) => [p.feed, p]));
    const session = new DeviceFeedSession((feed) => held.get(feed));
    vector.steps.forEach((step, index) => {
      if ("classify" in step) {
        assert.equal(session.classify({ type: "change_arrived", ...step.classify }), step.outcome, `step ${index + 1}`);
      } else {
        assert.deepEqual(session.handle(step.event), step.commands, `step ${index + 1}`);
      }
    });
  });
}

for (const { raw, seen } of vectors.peek) {
  test(`peek ${raw}`, () => {
    assert.deepEqual(peek(raw), seen);
  });
}
