// N TypeScript SDK devices (in-memory store) in one Node process, for push-latency.ts.
import { createInterface } from "node:readline";

import { Device } from "../src/device.js";
import { MemoryStore } from "../src/memory-store.js";

interface Config {
  readonly url: string;
  readonly devices: ReadonlyArray<{ readonly token: string; readonly uuid: string }>;
}

const lines = createInterface({ input: process.stdin });
const devices: Device[] = [];
let latencies: number[] = [];
let applied = 0;
let baseline = process.cpuUsage();

for await (const line of lines) {
  if (line === "start") {
    latencies = [];
    applied = 0;
    baseline = process.cpuUsage();
  } else if (line === "report") {
    const used = process.cpuUsage(baseline);
    process.stdout.write(`${JSON.stringify({ cpu_s: (used.user + used.system) / 1e6, applied, latencies_ms: latencies })}\n`);
  } else if (line.startsWith("{")) {
    const config = JSON.parse(line) as Config;
    for (const { token, uuid } of config.devices) {
      const device = new Device({ url: config.url, token, deviceUuid: uuid, store: new MemoryStore(), autoSyncIntervalS: 86_400 });
      device.onChange((change) => {
        applied += 1;
        latencies.push(Date.now() - Date.parse(change.committed_at));
      });
      devices.push(device);
      await device.start();
    }
    await Promise.all(devices.map((d) => d.waitConnected(30_000)));
    process.stdout.write("ready\n");
  }
}
await Promise.all(devices.map((d) => d.stop()));
process.exit(0);
