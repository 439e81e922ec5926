// Push latency and device CPU per applied change: TypeScript SDK devices (in-memory store)
// against Python SDK devices, in the same run, on one real `caresync serve`.
//
//   npm run build:test && node --experimental-websocket build-test/bench/push-latency.js [--devices 50] [--changes 400] [--rate 40]
//
// Each SDK gets `devices` carers with one device each, in its own process; the office
// reschedules visits through the REST API at `rate` changes a second, alternating between
// a TypeScript carer and a Python one. Latency: device receipt time minus `committed_at`.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { parseArgs } from "node:util";

import { REPO_DIR } from "../test/paths.js";
import { CaresyncServer } from "../test/server.js";

const { values } = parseArgs({ options: { devices: { type: "string", default: "50" }, changes: { type: "string", default: "400" }, rate: { type: "string", default: "40" } } });
const DEVICES = Number(values.devices);
const CHANGES = Number(values.changes);
const RATE = Number(values.rate);
const PYTHON = process.env["CARESYNC_PYTHON"] ?? join(REPO_DIR, ".venv/bin/python");

interface Report {
  readonly cpu_s: number;
  readonly applied: number;
  readonly latencies_ms: number[];
}

class DeviceProcess {
  private readonly lines: Interface;
  private readonly waiting: Array<(line: string) => void> = [];

  constructor(readonly label: string, private readonly child: ChildProcessWithoutNullStreams) {
    child.stderr.on("data", () => undefined);
    this.lines = createInterface({ input: child.stdout });
    this.lines.on("line", (line) => this.waiting.shift()?.(line));
  }

  private next(): Promise<string> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async start(url: string, devices: Array<{ token: string; uuid: string }>): Promise<void> {
    const ready = this.next();
    this.child.stdin.write(`${JSON.stringify({ url, devices })}\n`);
    if ((await ready) !== "ready") throw new Error(`${this.label} did not start`);
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  async report(): Promise<Report> {
    const line = this.next();
    this.send("report");
    return JSON.parse(await line) as Report;
  }

  close(): void {
    this.child.stdin.end();
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const server = await CaresyncServer.start();
try {
  const carers: Array<{ carerId: string; visitId: string; token: string; uuid: string }> = [];
  for (let i = 0; i < 2 * DEVICES; i++) {
    const carer = (await server.call("POST", "/api/v1/users", { name: `Carer ${i}`, role: "carer", branch_id: server.agency.branchId })) as { id: string };
    const uuid = randomUUID();
    const device = (await server.call("POST", "/api/v1/devices", { name: `phone ${i}`, carer_ids: [carer.id], uuid })) as { token: string };
    const start = new Date(Date.now() + 86_400_000);
    const visit = (await server.call("POST", "/api/v1/visits", {
      client_id: server.agency.clientId,
      starts_at: start.toISOString(),
      ends_at: new Date(start.getTime() + 1_800_000).toISOString(),
      carer_ids: [carer.id],
      tasks: [],
      notes: "",
    })) as { id: string };
    carers.push({ carerId: carer.id, visitId: visit.id, token: device.token, uuid });
  }
  const node = new DeviceProcess("typescript", spawn(process.execPath, ["--experimental-websocket", new URL("./node-devices.js", import.meta.url).pathname]));
  const python = new DeviceProcess("python", spawn(PYTHON, [join(REPO_DIR, "sdk/typescript/bench/python_devices.py")], { cwd: REPO_DIR, env: { ...process.env, PYTHONPATH: REPO_DIR } }));
  const ts = carers.filter((_, i) => i % 2 === 0);
  const py = carers.filter((_, i) => i % 2 === 1);
  await node.start(server.wsUrl, ts.map(({ token, uuid }) => ({ token, uuid })));
  await python.start(server.wsUrl, py.map(({ token, uuid }) => ({ token, uuid })));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  node.send("start");
  python.send("start");
  const started = performance.now();
  const base = Date.now() + 2 * 86_400_000;
  for (let i = 0; i < CHANGES; i++) {
    const carer = carers[i % carers.length];
    if (carer === undefined) throw new Error("no carer");
    const at = new Date(base + i * 60_000);
    await server.call("POST", `/api/v1/visits/${carer.visitId}/reschedule`, { starts_at: at.toISOString(), ends_at: new Date(at.getTime() + 1_800_000).toISOString() });
    const wait = started + ((i + 1) * 1000) / RATE - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  const half = CHANGES / 2;
  let reports: Report[] = [];
  for (let attempt = 0; attempt < 100; attempt++) {
    reports = [await node.report(), await python.report()];
    if (reports.every((r) => r.applied >= half)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  console.log(`devices per SDK=${DEVICES} changes=${CHANGES} rate=${RATE}/s`);
  for (const [label, report] of [["typescript (in-memory store)", reports[0]], ["python (SQLite :memory:)", reports[1]]] as const) {
    if (report === undefined) continue;
    const l = report.latencies_ms;
    console.log(
      `${label}: applied ${report.applied}/${half}; push latency p50 ${percentile(l, 50).toFixed(1)} ms, p99 ${percentile(l, 99).toFixed(1)} ms, max ${Math.max(...l).toFixed(1)} ms; device CPU per applied change ${((report.cpu_s / Math.max(1, report.applied)) * 1000).toFixed(3)} ms`,
    );
  }
  node.close();
  python.close();
} finally {
  await server.close();
}
