/**
 * The conformance adapter of the TypeScript SDK (docs/conformance.md): one JSON request per
 * line on stdin, one answer per line on stdout, over a real {@link Device} and the durable
 * {@link NodeFileStore} kept in `state_dir`.
 *
 *     caresync conformance --client "node --experimental-websocket dist/conformance/adapter.js {url} {token} {uuid} {state_dir}"
 */
import { spawn } from "node:child_process";
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { Device } from "../device.js";
import { enrol } from "../enrol.js";
import { httpBase } from "../link.js";
import { NodeFileStore } from "../node-file-store.js";

const SYNC_TIMEOUT_MS = 15_000;
/**
 * The token the client enrolled for, kept beside its store (an app keeps it in the platform's
 * secure storage); it wins over the one the kit started the adapter with.
 */
const TOKEN_FILE = "token";

type Request = Record<string, unknown> & { readonly id: unknown; readonly op: string };
type Answer = Record<string, unknown>;

class AdapterClient {
  private device: Device | null = null;
  private store: NodeFileStore | null = null;

  private token: string;

  constructor(
    private readonly url: string,
    token: string,
    private readonly uuid: string,
    private readonly stateDir: string,
  ) {
    this.token = this.storedToken() ?? token;
  }

  private storedToken(): string | null {
    try {
      return readFileSync(join(this.stateDir, TOKEN_FILE), "utf8").trim() || null;
    } catch {
      return null;
    }
  }

  /** Durably, before it is used: write aside, fsync, rename over. */
  private storeToken(token: string): void {
    mkdirSync(this.stateDir, { recursive: true });
    const path = join(this.stateDir, TOKEN_FILE);
    const fd = openSync(`${path}.new`, "w");
    try {
      writeSync(fd, token);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(`${path}.new`, path);
  }

  /** One store per process: every device built here shares it. */
  private openStore(): NodeFileStore {
    this.store ??= NodeFileStore.open(this.stateDir);
    return this.store;
  }

  private build(transport: "socket" | "http" = "socket"): Device {
    return new Device({ url: this.url, token: this.token, deviceUuid: this.uuid, store: this.openStore(), transport, requestTimeoutMs: SYNC_TIMEOUT_MS });
  }

  private running(): Device {
    if (this.device === null) throw new Error("the client is not started (or is offline)");
    return this.device;
  }

  async handle(request: Request): Promise<Answer> {
    switch (request.op) {
      case "start":
      case "online":
        if (this.device === null) {
          this.device = this.build();
          await this.device.start();
        }
        return {};
      case "state":
        return this.state();
      case "record":
        return { mutation_id: await this.record(request) };
      case "sync": {
        const summary = request["transport"] === "http" ? await this.syncOverHttp() : await this.running().sync({ timeoutMs: SYNC_TIMEOUT_MS });
        return { results: summary.results.map((r) => ({ mutation_id: r.mutation_id, status: r.status, reason: r.reason })) };
      }
      case "clean_sync": {
        const done = request["transport"] === "http" ? await this.cleanSyncOverHttp() : await this.running().cleanSync(undefined, { force: true, timeoutMs: SYNC_TIMEOUT_MS });
        return { feeds: [...done.values()] };
      }
      case "enrol": {
        const wasRunning = this.device !== null;
        await this.handle({ id: request.id, op: "offline" });
        const enrolled = await enrol(httpBase(this.url), { code: String(request["code"]), uuid: this.uuid, appVersion: "caresync-ts-conformance", platform: "node" });
        this.storeToken(enrolled.token);
        this.token = enrolled.token;
        if (wasRunning || request["start"] !== false) await this.handle({ id: request.id, op: "start" });
        return {};
      }
      case "awaiting_seen": {
        const store = this.openStore();
        return { changes: (await store.awaitingSeen()).map(({ feed, epoch, seq }) => ({ feed, epoch, seq })) };
      }
      case "acknowledge": {
        // While offline only stored (the store is durable before the answer); sent on the next connection.
        if (this.device !== null) return { recorded: await this.device.acknowledge(undefined, { timeoutMs: SYNC_TIMEOUT_MS }) };
        const store = this.openStore();
        await store.markSeen(await store.awaitingSeen(), new Date().toISOString());
        return { recorded: 0 };
      }
      case "offline":
      case "stop":
        if (this.device !== null) {
          await this.device.stop();
          this.device = null;
        }
        return {};
      default:
        throw new Error(`unsupported op ${request.op}`);
    }
  }

  private async state(): Promise<Answer> {
    const store = this.openStore();
    const positions = await store.positions();
    const visits = [];
    for (const p of positions) {
      for (const visit of await store.visits(p.feed)) visits.push({ feed: p.feed, id: visit.id, version: visit.version });
    }
    const stopped = this.device?.stoppedBy ?? null;
    return {
      connected: this.device?.connected ?? false,
      feeds: positions,
      visits,
      outbox: await store.pendingCount(),
      stopped: stopped === null ? null : { code: stopped.code, reason: stopped.reason },
    };
  }

  private async record(request: Request): Promise<number> {
    const device = this.device ?? this.build();
    const carer = String(request["carer_id"]);
    const visit = String(request["visit_id"]);
    switch (request["kind"]) {
      case "check_in":
        return device.checkIn(carer, visit);
      case "check_out":
        return device.checkOut(carer, visit);
      case "task_outcome":
        return device.recordTask(carer, visit, String(request["task_id"]), Boolean(request["done"]));
      case "visit_note":
        return device.addNote(carer, visit, String(request["text"]));
      default:
        throw new Error(`unknown kind ${JSON.stringify(request["kind"])}`);
    }
  }

  /** A clean sync over the HTTP fallback alone, while offline (no socket is opened). */
  private async cleanSyncOverHttp(): Promise<Awaited<ReturnType<Device["cleanSync"]>>> {
    if (this.device !== null) throw new Error("an HTTP-only clean sync is asked while offline");
    const device = this.build("http");
    try {
      return await device.cleanSync(undefined, { force: true, timeoutMs: SYNC_TIMEOUT_MS });
    } finally {
      await device.stop();
    }
  }

  /** A standard sync over the HTTP fallback alone, while offline (no socket is opened). */
  private async syncOverHttp(): Promise<Awaited<ReturnType<Device["sync"]>>> {
    if (this.device !== null) throw new Error("an HTTP-only sync is asked while offline");
    const device = this.build("http");
    try {
      return await device.sync({ timeoutMs: SYNC_TIMEOUT_MS });
    } finally {
      await device.stop();
    }
  }
}

async function main(): Promise<void> {
  const [url, token, uuid, stateDir] = process.argv.slice(2);
  if (url === undefined || token === undefined || uuid === undefined || stateDir === undefined) {
    console.error("usage: adapter.js URL TOKEN UUID STATE_DIR");
    process.exit(2);
  }
  const client = new AdapterClient(url, token, uuid, stateDir);
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    let request: Request;
    try {
      request = JSON.parse(line) as Request;
    } catch (error) {
      console.error(`not a JSON request: ${String(error)}`);
      continue;
    }
    let answer: Answer;
    try {
      answer = { id: request.id, ok: true, ...(await client.handle(request)) };
    } catch (error) {
      answer = { id: request.id, ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
    }
    process.stdout.write(`${JSON.stringify(answer)}\n`);
    if (request.op === "stop") process.exit(0);
  }
  process.exit(0);
}

/** Node 20 has a global WebSocket only behind a flag: run again with it (same stdio, same process group). */
function relaunchWithWebSocket(): boolean {
  if ("WebSocket" in globalThis) return false;
  const child = spawn(process.execPath, ["--experimental-websocket", ...process.execArgv, ...process.argv.slice(1)], { stdio: "inherit" });
  child.on("exit", (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)));
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => child.kill(signal));
  return true;
}

if (!relaunchWithWebSocket()) void main();
