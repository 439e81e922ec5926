// Close codes and reconnect delays (docs/protocol.md 7.2, 7.3).
import assert from "node:assert/strict";
import { test } from "node:test";

import { Backoff } from "../src/backoff.js";
import { reconnectAfterMs, retryHintMs, shouldReconnect } from "../src/close-codes.js";

test("terminal codes stop, the others reconnect", () => {
  for (const code of [4100, 4101, 4102, 4103, 4104, 4105, 4199, 1002, 1003, 1007, 1008, 1009]) assert.equal(shouldReconnect(code), false, String(code));
  for (const code of [4000, 4001, 4002, 4003, 4004, 4005, 1000, 1001, 1006, 1011, 1012, 1013]) assert.equal(shouldReconnect(code), true, String(code));
});

test("the waits a close reason names are read", () => {
  assert.equal(retryHintMs("database unavailable, retry in 3 s"), 3000);
  assert.equal(retryHintMs("retry in 0.5 s"), 500);
  assert.equal(retryHintMs("no hint"), null);
  assert.equal(reconnectAfterMs("draining; reconnect_after_ms=750"), 750);
  assert.equal(reconnectAfterMs("draining"), null);
});

test("backoff doubles up to its cap, with jitter between half and all of it, and resets", () => {
  const low = new Backoff(500, 30_000, () => 0);
  assert.deepEqual([1, 2, 3, 4].map(() => low.nextDelayMs()), [250, 500, 1000, 2000]);
  const high = new Backoff(500, 30_000, () => 1);
  for (let i = 0; i < 10; i++) high.nextDelayMs();
  assert.equal(high.nextDelayMs(), 30_000);
  high.reset();
  assert.equal(high.nextDelayMs(), 500);
});
