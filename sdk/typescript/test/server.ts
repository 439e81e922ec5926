/**
 * A real `caresync serve` for the tests: a temporary SQLite database seeded through the CLI
 * (a tenant, a branch, a carer, a device token), the office's REST calls, and kill / restart
 * / drain of the server process. The Python is `$CARESYNC_PYTHON` (default: the repository's
 * `.venv/bin/python`).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { REPO_DIR } from "./paths.js";

const PYTHON = process.env["CARESYNC_PYTHON"] ?? join(REPO_DIR, ".venv/bin/python");

function cli(databaseUrl: string, ...args: string[]): Record<string, string> & { out: string } {
  const run = spawnSync(PYTHON, ["-m", "server.cli", ...args, "--database-url", databaseUrl], { cwd: REPO_DIR, encoding: "utf8" });
  if (run.status !== 0) throw new Error(`caresync ${args.join(" ")} failed: ${run.stderr}`);
  const fields: Record<string, string> = {};
  for (const line of run.stdout.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) fields[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  return Object.assign(fields, { out: run.stdout.trim() });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

export interface Agency {
  readonly tenantId: string;
  readonly adminToken: string;
  readonly branchId: string;
  readonly carerId: string;
  readonly deviceId: string;
  readonly deviceUuid: string;
  readonly deviceToken: string;
  readonly clientId: string;
}

export class CaresyncServer {
  private process: ChildProcess | null = null;
  agency!: Agency;

  private constructor(
    readonly directory: string,
    readonly port: number,
  ) {}

  get databaseUrl(): string {
    return `sqlite:///${join(this.directory, "caresync.db")}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws/device`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Seed an agency and start serving it. */
  static async start(): Promise<CaresyncServer> {
    const server = new CaresyncServer(mkdtempSync(join(tmpdir(), "caresync-ts-")), await freePort());
    const tenant = cli(server.databaseUrl, "tenant", "Sunrise Home Care");
    const tenantId = tenant["tenant_id"] ?? "";
    const branchId = cli(server.databaseUrl, "branches", "create", "--tenant", tenantId, "North office").out;
    const carerId = cli(server.databaseUrl, "users", "create", "--tenant", tenantId, "Amara Okafor", "--role", "carer", "--branch", branchId).out;
    const deviceUuid = randomUUID();
    const device = cli(server.databaseUrl, "device-token", "--tenant", tenantId, "--uuid", deviceUuid, "--name", "Amara's phone", "--carer", carerId);
    await server.serve();
    const agency = { tenantId, adminToken: tenant["admin_token"] ?? "", branchId, carerId, deviceUuid, deviceId: device["device_id"] ?? "", deviceToken: device["device_token"] ?? "", clientId: "" };
    server.agency = agency;
    const client = (await server.call("POST", "/api/v1/clients", { name: "Mrs Patel", branch_id: branchId, address: "1 High Street" })) as { id: string };
    server.agency = { ...agency, clientId: client.id };
    return server;
  }

  /** Start `caresync serve` and wait until it answers. */
  async serve(): Promise<void> {
    const child = spawn(PYTHON, ["-m", "server.cli", "serve", "--port", String(this.port), "--database-url", this.databaseUrl, "--heartbeat", "2", "--drain-window", "0.5"], {
      cwd: REPO_DIR,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-4000);
    });
    this.process = child;
    for (let attempt = 0; attempt < 300; attempt++) {
      if (child.exitCode !== null) throw new Error(`caresync serve exited: ${log}`);
      try {
        const reply = await fetch(`${this.httpUrl}/livez`);
        if (reply.status < 500) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`caresync serve did not answer: ${log}`);
  }

  /** `kill -9` the server (no drain, no goodbye). */
  async kill(): Promise<void> {
    await this.stopWith("SIGKILL");
  }

  /** Stop the server as a deploy does: it drains, closing sockets with 4000. */
  async drain(): Promise<void> {
    await this.stopWith("SIGTERM");
  }

  private stopWith(signal: NodeJS.Signals): Promise<void> {
    const child = this.process;
    this.process = null;
    if (child === null || child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once("exit", () => resolve());
      child.kill(signal);
    });
  }

  async close(): Promise<void> {
    await this.kill();
    rmSync(this.directory, { recursive: true, force: true });
  }

  /** An office REST call with the admin token. */
  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const reply = await fetch(`${this.httpUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.agency.adminToken}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await reply.text();
    if (!reply.ok) throw new Error(`${method} ${path}: ${reply.status} ${text}`);
    return text === "" ? null : JSON.parse(text);
  }

  /** A visit for the carer, starting `hoursFromNow` from now. */
  async createVisit(hoursFromNow = 1): Promise<{ id: string }> {
    const start = new Date(Date.now() + hoursFromNow * 3_600_000);
    const end = new Date(start.getTime() + 45 * 60_000);
    return (await this.call("POST", "/api/v1/visits", {
      client_id: this.agency.clientId,
      starts_at: start.toISOString(),
      ends_at: end.toISOString(),
      carer_ids: [this.agency.carerId],
      tasks: [{ title: "Medication" }],
      notes: "",
    })) as { id: string };
  }
}

/** Resolves once `check()` is true, polling every 20 ms; rejects after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
