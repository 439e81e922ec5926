/**
 * The device's connection: one WebSocket at a time, kept open with reconnects that obey the
 * close codes, request/response over it, and the HTTP fallback for the same requests (and
 * for acks) when no socket is up. States: `disconnected` → `connecting` → `connected`
 * (welcomed) → back to `disconnected` on a transient close, or `closed` for good on a
 * terminal one (or when the app signs out: `getToken()` answered `null`).
 */
import { Backoff } from "./backoff.js";
import { DRAIN_JITTER_MS, reconnectAfterMs, retryHintMs, shouldReconnect } from "./close-codes.js";
import { Sleeper } from "./concurrency.js";
import { decodeAs, decodeServerFrame } from "./decode.js";
import { ConnectionLost, DeviceStopped, RequestFailed } from "./errors.js";
import type {
  Ack,
  CleanSyncRequest,
  CleanSyncResponse,
  DeviceFrame,
  Error as ErrorFrame,
  Hello,
  Seen,
  SeenRecorded,
  ServerFrame,
  SyncRequest,
  SyncResponse,
} from "./frames.generated.js";
import { peek } from "./peek.js";

/** The part of the WHATWG WebSocket the SDK uses (browsers, React Native, Node 22+ / 20 with --experimental-websocket). */
export interface WebSocketLike {
  binaryType: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { readonly data: unknown }) => void) | null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketFactory = (url: string) => WebSocketLike;
export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body: string }) => Promise<{
  readonly status: number;
  readonly ok: boolean;
  text(): Promise<string>;
  readonly headers: { get(name: string): string | null };
}>;

export type ConnectionState = "disconnected" | "connecting" | "connected" | "closed";

export interface StateEvent {
  readonly state: ConnectionState;
  readonly previous: ConnectionState;
  /** The close code that caused it (a transient or terminal close), when there was one. */
  readonly code: number | null;
  readonly reason: string;
}

/** Where the token comes from: called on every (re)connect. `null`: signed out (stop); a throw: try again later. */
export type TokenSource = () => Promise<string | null> | string | null;

export type Request = SyncRequest | CleanSyncRequest | Seen;
export type Response = SyncResponse | CleanSyncResponse | SeenRecorded;

export interface LinkOptions {
  readonly url: string;
  readonly httpUrl: string;
  readonly getToken: TokenSource;
  readonly hello: (token: string) => Promise<Hello>;
  readonly onFrame: (frame: ServerFrame) => Promise<void>;
  /** A frame that did not decode and answered no clean sync: the feed it named, or null. */
  readonly onUndecodable: (feed: string | null) => Promise<void>;
  readonly webSocket?: WebSocketFactory | undefined;
  readonly fetch?: FetchLike | undefined;
  readonly random?: (() => number) | undefined;
  readonly connectTimeoutMs?: number | undefined;
}

interface Pending {
  readonly resolve: (response: Response) => void;
  readonly reject: (error: Error) => void;
  readonly clean: boolean;
}

interface Closed {
  readonly code: number;
  readonly reason: string;
}

const HTTP_PATHS = {
  sync_request: "/api/v1/device/sync",
  clean_sync_request: "/api/v1/device/clean-sync",
  seen: "/api/v1/device/seen",
} as const;
export const ACK_PATH = "/api/v1/device/ack";

/** `ws://host:port/ws/device` → `http://host:port` (wss → https). */
export function httpBase(wsUrl: string): string {
  const url = new URL(wsUrl);
  return `${url.protocol === "wss:" ? "https:" : "http:"}//${url.host}`;
}

function defaultWebSocket(url: string): WebSocketLike {
  const Constructor = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
  if (Constructor === undefined) throw new Error("no global WebSocket: pass `webSocket` (Node 20: run with --experimental-websocket)");
  return new Constructor(url);
}

function defaultFetch(): FetchLike {
  const found = (globalThis as { fetch?: FetchLike }).fetch;
  if (found === undefined) throw new Error("no global fetch: pass `fetch`");
  return found.bind(globalThis);
}

export class Link {
  state: ConnectionState = "disconnected";
  stoppedBy: DeviceStopped | null = null;
  /** Sockets that were welcomed and then lost. */
  drops = 0;
  private ws: WebSocketLike | null = null;
  private welcomedOn: WebSocketLike | null = null;
  private token: string | null = null;
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<(event: StateEvent) => void>();
  private readonly backoff: Backoff;
  private readonly sleeper = new Sleeper();
  private readonly random: () => number;
  private running = false;
  private paused = true;
  private inbox: Promise<void> = Promise.resolve();
  private abandon: ((closed: Closed) => void) | null = null;
  private watchdog: ReturnType<typeof setTimeout> | null = null;
  private probe: ReturnType<typeof setTimeout> | null = null;
  private heartbeatMs = 25_000;

  constructor(private readonly options: LinkOptions) {
    this.random = options.random ?? Math.random;
    this.backoff = new Backoff(500, 30_000, this.random);
  }

  onState(listener: (event: StateEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get connected(): boolean {
    return this.state === "connected";
  }

  /** Keep a socket open (reconnecting) until `pause()`, `stop()` or a terminal close. */
  start(): void {
    if (this.stoppedBy !== null) return;
    this.paused = false;
    if (!this.running) void this.run();
  }

  /** Close the socket and stay disconnected until `resume()` (the app went to the background, or offline). */
  pause(): void {
    this.paused = true;
    this.sleeper.wake();
    this.drop(1000, "paused");
  }

  /** Reconnect now (the app came to the foreground, or the network is back). */
  resume(): void {
    this.backoff.reset();
    this.start();
    this.sleeper.wake();
  }

  /** Stop for good (no reconnect); pending requests fail. */
  stop(): void {
    this.paused = true;
    this.sleeper.wake();
    this.drop(1000, "stopped");
  }

  private setState(state: ConnectionState, code: number | null = null, reason = ""): void {
    if (state === this.state) return;
    const event: StateEvent = { state, previous: this.state, code, reason };
    this.state = state;
    for (const listener of this.listeners) listener(event);
  }

  private finish(code: number, reason: string): void {
    this.stoppedBy = new DeviceStopped(code, reason);
    this.paused = true;
    this.setState("closed", code, reason);
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (!this.paused && this.stoppedBy === null) {
        let token: string | null;
        try {
          token = await this.options.getToken();
        } catch (error) {
          this.setState("disconnected", null, `token unavailable: ${String(error)}`);
          await this.sleeper.sleep(this.backoff.nextDelayMs());
          continue;
        }
        if (token === null) {
          this.finish(4100, "signed out: getToken() returned null");
          return;
        }
        this.token = token;
        if (this.paused) break;
        const closed = await this.connectOnce(token);
        if (this.stoppedBy !== null) return;
        if (!shouldReconnect(closed.code)) {
          this.finish(closed.code, closed.reason);
          return;
        }
        this.setState("disconnected", closed.code, closed.reason);
        if (this.paused) break;
        await this.sleeper.sleep(this.delayAfter(closed));
      }
    } finally {
      this.running = false;
    }
  }

  /**
   * Backoff, except where the close names its own wait: a 4003 (or 4005) says `retry in N s`,
   * a draining node's 4000 says `reconnect_after_ms=N`; those are taken with jitter, without
   * growing the backoff.
   */
  private delayAfter({ code, reason }: Closed): number {
    const hint = code === 4003 || code === 4005 ? retryHintMs(reason) : null;
    if (hint !== null) return hint * (1 + this.random() * 0.5);
    const after = code === 4000 ? reconnectAfterMs(reason) : null;
    if (after !== null) return after + this.random() * DRAIN_JITTER_MS;
    return this.backoff.nextDelayMs();
  }

  private connectOnce(token: string): Promise<Closed> {
    this.setState("connecting");
    return new Promise<Closed>((resolve) => {
      let settled = false;
      let ws: WebSocketLike;
      const end = (closed: Closed): void => {
        if (settled) return;
        settled = true;
        clearTimeout(opening);
        this.lost(ws);
        resolve(closed);
      };
      try {
        ws = (this.options.webSocket ?? defaultWebSocket)(this.options.url);
      } catch (error) {
        resolve({ code: 1006, reason: String(error) });
        return;
      }
      const opening = setTimeout(() => {
        end({ code: 1006, reason: "connect timed out" });
        try {
          ws.close();
        } catch {
          // already gone
        }
      }, this.options.connectTimeoutMs ?? 10_000);
      this.ws = ws;
      this.abandon = end;
      ws.binaryType = "arraybuffer";
      ws.onopen = () => {
        clearTimeout(opening);
        void this.options.hello(token).then(
          (hello) => this.sendOn(ws, hello),
          (error: unknown) => end({ code: 1006, reason: `hello failed: ${String(error)}` }),
        );
      };
      ws.onmessage = (event) => {
        if (settled) return;
        const text = typeof event.data === "string" ? event.data : new TextDecoder().decode(event.data as ArrayBuffer);
        this.alive();
        this.inbox = this.inbox.then(() => this.receive(text)).catch((error: unknown) => console.error("caresync: frame handling failed", error));
      };
      ws.onclose = (event) => end({ code: event.code || 1006, reason: event.reason ?? "" });
      ws.onerror = () => undefined; // a close event follows
    });
  }

  /** The socket is gone: fail its requests, stop its timers. */
  private lost(ws: WebSocketLike): void {
    if (this.ws !== ws) return;
    if (this.welcomedOn === ws) this.drops += 1;
    this.ws = null;
    this.welcomedOn = null;
    this.abandon = null;
    this.clearTimers();
    ws.onmessage = null;
    ws.onclose = null;
    ws.onopen = null;
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      pending.reject(new ConnectionLost("connection lost"));
    }
  }

  /** Close the current socket now (treated as a close with `code`). */
  private drop(code: number, reason: string): void {
    const ws = this.ws;
    const abandon = this.abandon;
    if (ws === null) {
      if (this.state !== "closed") this.setState("disconnected", null, reason);
      return;
    }
    abandon?.({ code, reason });
    try {
      ws.close(1000, reason);
    } catch {
      // already closing
    }
    if (this.state !== "closed") this.setState("disconnected", null, reason);
  }

  /** The app's network hint: drop the socket (it reconnects with backoff). */
  disconnect(): void {
    this.drop(1006, "disconnected by the app");
  }

  /** `welcome` arrived: the link is up. Starts heartbeat-loss detection. */
  welcomed(heartbeatIntervalS: number): void {
    if (this.ws === null) return;
    this.welcomedOn = this.ws;
    this.heartbeatMs = Math.max(1000, heartbeatIntervalS * 1000);
    this.backoff.reset();
    this.setState("connected");
    this.alive();
  }

  /** A frame arrived: the server is there. No frame for 1.5 heartbeats: probe; for 2.5: the link is lost. */
  private alive(): void {
    if (this.welcomedOn === null) return;
    this.clearTimers();
    const ws = this.welcomedOn;
    this.probe = setTimeout(() => this.sendOn(ws, { type: "heartbeat", heads: [], server_time: null }), this.heartbeatMs * 1.5);
    this.watchdog = setTimeout(() => {
      if (this.ws !== ws) return;
      this.abandon?.({ code: 1006, reason: "heartbeat lost" });
      try {
        ws.close(1000, "heartbeat lost");
      } catch {
        // already gone
      }
    }, this.heartbeatMs * 2.5);
  }

  private clearTimers(): void {
    if (this.probe !== null) clearTimeout(this.probe);
    if (this.watchdog !== null) clearTimeout(this.watchdog);
    this.probe = null;
    this.watchdog = null;
  }

  private async receive(text: string): Promise<void> {
    let frame: ServerFrame;
    try {
      frame = decodeServerFrame(text);
    } catch (error) {
      await this.undecodable(text, error, false);
      return;
    }
    if (frame.type === "sync_response" || frame.type === "clean_sync_response" || frame.type === "seen_recorded") {
      this.resolve(frame.request_id, frame);
    } else if (frame.type === "error" && frame.request_id !== null && this.pending.has(frame.request_id)) {
      this.resolve(frame.request_id, new RequestFailed(frame));
    } else {
      await this.options.onFrame(frame);
    }
  }

  /**
   * A frame this device cannot read: fail the request it answers (if it names one), and let
   * the device clean-sync what it may have concerned, unless it answered a clean sync: that
   * one fails, and its caller retries it.
   */
  private async undecodable(text: string, error: unknown, answersCleanSync: boolean): Promise<void> {
    const seen = peek(text);
    console.warn(`caresync: a ${seen.type ?? "unreadable"} frame could not be decoded (${String(error)})`);
    let clean = answersCleanSync;
    if (seen.request_id !== null) {
      clean = clean || (this.pending.get(seen.request_id)?.clean ?? false);
      this.resolve(seen.request_id, new RequestFailed({ type: "error", code: "invalid_frame", message: String(error), request_id: seen.request_id }));
    }
    if (!clean) await this.options.onUndecodable(seen.feed);
  }

  private resolve(requestId: string, outcome: Response | Error): void {
    const pending = this.pending.get(requestId);
    if (pending === undefined) return;
    this.pending.delete(requestId);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }

  private sendOn(ws: WebSocketLike, frame: DeviceFrame): boolean {
    if (this.ws !== ws) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** Send a frame on the welcomed socket; false when none is up. */
  send(frame: DeviceFrame): boolean {
    const ws = this.welcomedOn;
    return ws !== null && this.sendOn(ws, frame);
  }

  /** Over the socket when it is up, else over HTTP: the same request and answer. */
  request(frame: Request, timeoutMs = 30_000, transport: "auto" | "http" = "auto"): Promise<Response> {
    const ws = this.welcomedOn;
    if (transport === "auto" && ws !== null) return this.overSocket(ws, frame, timeoutMs);
    return this.overHttp(frame, timeoutMs);
  }

  private overSocket(ws: WebSocketLike, frame: Request, timeoutMs: number): Promise<Response> {
    return new Promise<Response>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(frame.request_id);
        reject(new ConnectionLost(`no answer to ${frame.type} in ${timeoutMs} ms`));
      }, timeoutMs);
      const settle =
        <T>(then: (value: T) => void) =>
        (value: T): void => {
          clearTimeout(timer);
          then(value);
        };
      this.pending.set(frame.request_id, { resolve: settle(resolve), reject: settle(reject), clean: frame.type === "clean_sync_request" });
      if (!this.sendOn(ws, frame)) this.resolve(frame.request_id, new ConnectionLost("connection lost"));
    });
  }

  /** Report an applied position: an `ack` frame on the socket, else `POST /api/v1/device/ack`. */
  async acknowledge(ack: Ack, timeoutMs = 30_000, transport: "auto" | "http" = "auto"): Promise<void> {
    if (transport === "auto" && this.send(ack)) return;
    await this.post(ACK_PATH, JSON.stringify(ack), null, timeoutMs);
  }

  private async httpToken(): Promise<string> {
    if (this.token !== null) return this.token;
    const token = await this.options.getToken();
    if (token === null) throw new DeviceStopped(4100, "signed out: getToken() returned null");
    this.token = token;
    return token;
  }

  private async post(path: string, body: string, requestId: string | null, timeoutMs: number): Promise<string> {
    const token = await this.httpToken();
    const fetchImpl = this.options.fetch ?? defaultFetch();
    let reply: Awaited<ReturnType<FetchLike>>;
    let text: string;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ConnectionLost(`no HTTP answer in ${timeoutMs} ms`)), timeoutMs);
      });
      reply = await Promise.race([
        fetchImpl(`${this.options.httpUrl}${path}`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body,
        }),
        timeout,
      ]);
      text = await Promise.race([reply.text(), timeout]);
    } catch (error) {
      if (error instanceof ConnectionLost) throw error;
      throw new ConnectionLost(`HTTP request failed: ${String(error)}`);
    } finally {
      clearTimeout(timer);
    }
    if (!reply.ok) {
      let error: ErrorFrame = { type: "error", code: "internal_error", message: `HTTP ${reply.status}`, request_id: requestId };
      try {
        const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
        if (typeof parsed.error?.code === "string") {
          error = { type: "error", code: parsed.error.code, message: String(parsed.error.message ?? ""), request_id: requestId };
        }
      } catch {
        // not a JSON error body
      }
      if (reply.status === 401) this.finish(error.code === "revoked" ? 4101 : 4100, error.message);
      throw new RequestFailed(error, reply.status);
    }
    return text;
  }

  private async overHttp(frame: Request, timeoutMs: number): Promise<Response> {
    const text = await this.post(HTTP_PATHS[frame.type], JSON.stringify(frame), frame.request_id, timeoutMs);
    if (frame.type === "seen") {
      // 204: recorded, as the socket's seen_recorded says.
      return { type: "seen_recorded", request_id: frame.request_id, feed: frame.feed, epoch: frame.epoch, seqs: frame.seqs };
    }
    try {
      return decodeAs<Response>(frame.type === "sync_request" ? "SyncResponse" : "CleanSyncResponse", text);
    } catch (error) {
      await this.undecodable(text, error, frame.type === "clean_sync_request");
      throw new RequestFailed({ type: "error", code: "invalid_frame", message: String(error), request_id: frame.request_id });
    }
  }
}
