// The device against a real `caresync serve`: live push, offline catch-up, uploads exactly
// once across a server kill, clean sync, revocation, drain.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Device } from "../src/device.js";
import { enrol } from "../src/enrol.js";
import { CleanSyncRefused, DeviceStopped, RequestFailed } from "../src/errors.js";
import type { Change } from "../src/frames.generated.js";
import type { StateEvent, WebSocketLike } from "../src/link.js";
import { MemoryStore } from "../src/memory-store.js";
import { CaresyncServer, eventually } from "./server.js";

let server: CaresyncServer;

before(async () => {
  server = await CaresyncServer.start();
});

after(async () => {
  await (server as CaresyncServer | undefined)?.close();
});

function device(store = new MemoryStore()): Device {
  const { deviceToken, deviceUuid } = server.agency;
  return new Device({ url: server.wsUrl, getToken: () => deviceToken, deviceUuid, store, requestTimeoutMs: 5000 });
}

async function held(d: Device): Promise<number> {
  return (await d.visits()).length;
}

test("a change the office commits is pushed, stored with its position and acknowledged", async () => {
  const d = device();
  const changes: Change[] = [];
  d.onChange((change) => changes.push(change));
  await d.start();
  await d.waitConnected();
  const visit = await server.createVisit();
  await eventually(() => changes.some((c) => c.payload.kind === "visit_upsert" && c.payload.visit.id === visit.id), "the push");
  const position = (await d.positions()).get(server.agency.carerId);
  assert.equal(position?.seq, changes.at(-1)?.seq);
  assert.ok((await d.visits()).some((v) => v.id === visit.id));
  await d.stop();
});

test("a paused device catches up on what it missed when it resumes", async () => {
  const store = new MemoryStore();
  const d = device(store);
  await d.start();
  await d.waitConnected();
  await d.sync();
  const before = await held(d);
  d.pause();
  assert.equal(d.state, "disconnected");
  await server.createVisit(2);
  await server.createVisit(3);
  d.resume();
  await d.waitConnected();
  await eventually(async () => (await held(d)) === before + 2, "the catch-up");
  await d.stop();
});

test("recordings made while the server is down are uploaded exactly once after it comes back", async () => {
  const d = device();
  await d.start();
  await d.waitConnected();
  await d.sync();
  const visit = (await d.visits())[0];
  assert.ok(visit !== undefined);
  await server.kill();
  await eventually(() => d.state !== "connected", "the socket to drop");
  const ids = [await d.checkIn(server.agency.carerId, visit.id), await d.addNote(server.agency.carerId, visit.id, "All well")];
  await assert.rejects(d.sync({ timeoutMs: 2000 }));
  assert.equal(await d.pendingCount(), 2);
  await server.serve();
  await d.waitConnected(15_000);
  await eventually(async () => (await d.pendingCount()) === 0, "the upload");
  for (const id of ids) assert.equal((await d.store.result(id))?.status, "applied");
  const again = await d.sync();
  assert.deepEqual(again.results, [], "nothing is sent twice");
  await d.stop();
});

test("a clean sync is refused while a visit is checked in, and forced it swaps in the snapshot at the head", async () => {
  const d = device();
  await d.start();
  await d.waitConnected();
  await d.sync();
  const visit = (await d.visits())[0];
  assert.ok(visit !== undefined);
  await d.checkIn(server.agency.carerId, visit.id);
  await assert.rejects(d.cleanSync(), CleanSyncRefused);
  const done = await d.cleanSync(undefined, { force: true });
  const position = done.get(server.agency.carerId);
  assert.ok(position !== undefined && position.seq > 0);
  assert.equal(await d.pendingCount(), 0, "the check-in went first");
  assert.ok((await d.visits()).some((v) => v.id === visit.id));
  await d.stop();
});

test("a drained server closes with 4000; the device reconnects to the next one and receives later changes", async () => {
  const d = device();
  const states: StateEvent[] = [];
  d.onState((event) => states.push(event));
  await d.start();
  await d.waitConnected();
  await d.sync();
  const before = await held(d);
  await server.drain();
  await eventually(() => states.some((s) => s.code === 4000), "the 4000 close");
  await server.serve();
  await d.waitConnected(15_000);
  await server.createVisit(4);
  await eventually(async () => (await held(d)) === before + 1, "the later change");
  await d.stop();
});

test("getToken is asked on every connect: a throw is retried, null stops the device without a socket", async () => {
  const { deviceToken, deviceUuid } = server.agency;
  let asked = 0;
  const flaky = new Device({
    url: server.wsUrl,
    deviceUuid,
    store: new MemoryStore(),
    random: () => 0,
    getToken: () => {
      asked += 1;
      if (asked === 1) throw new Error("keychain locked");
      return deviceToken;
    },
  });
  await flaky.start();
  await flaky.waitConnected();
  assert.equal(asked, 2);
  await flaky.stop();

  let sockets = 0;
  const signedOut = new Device({
    url: server.wsUrl,
    deviceUuid,
    store: new MemoryStore(),
    getToken: async () => null,
    webSocket: (url) => {
      sockets += 1;
      return new WebSocket(url) as unknown as WebSocketLike;
    },
  });
  await signedOut.start();
  await assert.rejects(signedOut.waitConnected(), DeviceStopped);
  assert.equal(signedOut.state, "closed");
  assert.equal(signedOut.stoppedBy?.code, 4100);
  assert.equal(sockets, 0);
  await signedOut.stop();
});

test("a revoked device is closed with 4101 and does not reconnect", async () => {
  const d = device();
  const states: StateEvent[] = [];
  d.onState((event) => states.push(event));
  await d.start();
  await d.waitConnected();
  await server.call("POST", `/api/v1/devices/${server.agency.deviceId}/revoke`);
  await eventually(() => d.state === "closed", "the terminal close");
  assert.equal(d.stoppedBy?.code, 4101);
  assert.deepEqual(states.at(-1), { state: "closed", previous: "connected", code: 4101, reason: states.at(-1)?.reason });
  assert.equal(states.filter((s) => s.state === "connecting").length, 1, "connected once, never again");
  await d.stop();
});

test("a revoked phone enrolled again with a one-time code (a wrong code is refused 401) connects and syncs with the new token", async () => {
  const store = new MemoryStore();
  const first = device(store);
  await assert.rejects(first.start().then(() => first.waitConnected()), DeviceStopped, "still revoked");
  await first.stop();
  const { code } = (await server.call("POST", `/api/v1/devices/${server.agency.deviceId}/enrolment-codes`, {})) as { code: string };
  await assert.rejects(
    enrol(server.httpUrl, { code: "NOPE-NOPE-NOPE", uuid: server.agency.deviceUuid, appVersion: "test", platform: "node" }),
    (error: unknown) => error instanceof RequestFailed && error.status === 401,
  );
  const { token } = await enrol(server.httpUrl, { code, uuid: server.agency.deviceUuid, appVersion: "test", platform: "node" });
  const again = new Device({ url: server.wsUrl, token, deviceUuid: server.agency.deviceUuid, store });
  await again.start();
  await again.waitConnected();
  await again.sync();
  assert.ok((await again.visits()).length > 0);
  await again.stop();
});
