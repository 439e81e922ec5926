// The carer's acknowledgement against a real `caresync serve` (docs/protocol.md 4b): a change
// inside the window awaits the carer; acknowledged on the socket or over HTTP it is recorded
// once and shown in the visit's history.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Device } from "../src/device.js";
import { MemoryStore } from "../src/memory-store.js";
import { CaresyncServer, eventually } from "./server.js";

let server: CaresyncServer;

before(async () => {
  server = await CaresyncServer.start();
});

after(async () => {
  await (server as CaresyncServer | undefined)?.close();
});

interface History {
  changes: Array<{ seq: number; needs_seen: boolean; delivered: boolean; seen: { device_id: string } | null }>;
}

function device(store: MemoryStore, transport: "socket" | "http" = "socket"): Device {
  const { deviceToken, deviceUuid } = server.agency;
  return new Device({ url: server.wsUrl, getToken: () => deviceToken, deviceUuid, store, transport, requestTimeoutMs: 5000 });
}

test("a change inside the window awaits the carer; acknowledged, it is recorded and shown as seen", async () => {
  const store = new MemoryStore();
  const d = device(store);
  await d.start();
  await d.waitConnected();
  const visit = await server.createVisit(1);
  await eventually(async () => (await d.awaitingSeen()).some((a) => a.visitId === visit.id), "the change awaiting the carer");
  const far = await server.createVisit(24 * 5);
  await eventually(async () => (await d.visits()).some((v) => v.id === far.id), "the far visit");
  assert.ok(!(await d.awaitingSeen()).some((a) => a.visitId === far.id), "a visit beyond the window does not await");
  assert.equal(await d.acknowledge((await d.awaitingSeen()).filter((a) => a.visitId === visit.id)), 1);
  assert.deepEqual(await store.unsentSeen(), []);
  const history = (await server.call("GET", `/api/v1/visits/${visit.id}/seen`)) as History;
  assert.deepEqual(history.changes.map((c) => [c.needs_seen, c.delivered, c.seen?.device_id]), [[true, true, server.agency.deviceId]]);
  await d.stop();
});

test("over HTTP alone, an acknowledgement is sent with POST /api/v1/device/seen, and again is harmless", async () => {
  const store = new MemoryStore();
  const online = device(store); // a phone that has connected once knows its feeds
  await online.start();
  await online.waitConnected();
  await online.sync();
  await online.stop();
  const d = device(store, "http");
  await d.start();
  const visit = await server.createVisit(2);
  await d.sync();
  const awaiting = (await d.awaitingSeen()).filter((a) => a.visitId === visit.id);
  assert.equal(awaiting.length, 1);
  assert.equal(await d.acknowledge(awaiting), 1);
  await store.markSeen(awaiting, new Date().toISOString()); // as if the answer had been lost
  assert.equal(await d.sendSeen(), 1);
  const history = (await server.call("GET", `/api/v1/visits/${visit.id}/seen`)) as History;
  assert.equal(history.changes.filter((c) => c.seen !== null).length, 1);
  await d.stop();
});
