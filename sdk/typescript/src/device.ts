/**
 * The device: a carer's phone app's sync engine.
 *
 *     const device = new Device({ url, getToken, deviceUuid, store });
 *     await device.start();                     // connect in the background, resume, reconnect
 *     device.onChange((change) => render());    // after each applied change
 *     await device.checkIn(carerId, visitId);   // recordings go to the durable outbox
 *     await device.sync();                      // standard sync: upload, then download
 *     await device.cleanSync();                 // fresh copy; refused while work is in progress
 *     await device.awaitingSeen(carerId);       // changes the carer must acknowledge (docs/protocol.md 4b)
 *     await device.acknowledge(changes);        // the carer saw them (kept until recorded)
 *     await device.stop();
 *
 * Every change is applied together with its new position in one store transaction and only
 * then acknowledged. The decisions are the pure session's (session.ts, the same vectors as
 * protocol/device_session.py); this class runs its commands against the store and the link.
 */
import { Backoff } from "./backoff.js";
import { Mutex, Signal, Sleeper } from "./concurrency.js";
import { CleanSyncRefused, DeviceStopped, RequestFailed } from "./errors.js";
import type {
  Ack,
  Change,
  CleanSyncResponse,
  Error as ErrorFrame,
  FeedPosition,
  Hello,
  Location,
  MutationResult,
  ServerFrame,
  SyncResponse,
  TenantPreferences,
  VisitView,
  Welcome,
} from "./frames.generated.js";
import { httpBase, Link, type ConnectionState, type FetchLike, type StateEvent, type TokenSource, type WebSocketFactory } from "./link.js";
import { DEFAULT_SEEN_WINDOW_H, MAX_SEEN_PER_FRAME } from "./seen-policy.js";
import { DeviceFeedSession, type DeviceCommand, type DeviceEvent } from "./session.js";
import type { AwaitingSeen, DeviceStore, Mutation } from "./store.js";

export const PROTOCOL_VERSION = 1;
export const MAX_MUTATIONS_PER_SYNC = 200;
export const MAX_CHANGES_PER_PAGE = 500;
export const MAX_FRAME_BYTES = 262_144;
/** The recordings one `sync_request` carries: the frame limit less room for the positions. */
export const UPLOAD_BYTES_PER_SYNC = MAX_FRAME_BYTES - 32 * 1024;
const DEFAULT_AUTO_SYNC_S = 900;
const RESTARTABLE = new Set(["snapshot_expired", "invalid_cursor", "cursor_out_of_order"]);
/** Answers after which an acknowledgement can never be recorded: it is dropped. */
const SEEN_REFUSED_FOR_GOOD = new Set(["stale_epoch", "unknown_feed", "position_ahead"]);

export interface DeviceOptions {
  /** The device WebSocket URL, `wss://host/ws/device`. */
  readonly url: string;
  readonly deviceUuid: string;
  readonly store: DeviceStore;
  /** A fixed token, or `getToken` (called on every (re)connect: `null` = signed out, a throw = try later). */
  readonly token?: string;
  readonly getToken?: TokenSource;
  readonly appVersion?: string;
  /** `http`: never open a socket; every sync goes over the HTTP fallback (docs/protocol.md 8). */
  readonly transport?: "socket" | "http";
  /** Defaults to the URL's host over http(s). */
  readonly httpUrl?: string;
  /** Overrides the tenant's auto-sync interval. */
  readonly autoSyncIntervalS?: number;
  /** Acks on (default). Tests switch them off to play a faulty app. */
  readonly ack?: boolean;
  readonly webSocket?: WebSocketFactory;
  readonly fetch?: FetchLike;
  readonly random?: () => number;
  readonly requestTimeoutMs?: number;
}

export interface SyncOptions {
  readonly upload?: boolean;
  readonly pageSize?: number;
  readonly timeoutMs?: number;
}

export interface SyncSummary {
  uploaded: number;
  applied: number;
  results: MutationResult[];
}

export type ChangeListener = (change: Change) => void;

function newId(): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (crypto?.randomUUID !== undefined) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

function key(feed: string, epoch: number, seq: number): string {
  return `${feed}\u0000${epoch}\u0000${seq}`;
}

export class Device {
  readonly link: Link;
  readonly store: DeviceStore;
  readonly session: DeviceFeedSession;
  welcome: Welcome | null = null;
  preferences: TenantPreferences | null = null;
  /** `error` frames the server sent that answered no request. */
  readonly errors: ErrorFrame[] = [];
  receivedChanges = 0;
  appliedChanges = 0;
  autoSyncs = 0;
  lastSyncAt: Date | null = null;
  private readonly options: DeviceOptions;
  private readonly held = new Map<string, FeedPosition>();
  private readonly changeListeners = new Set<ChangeListener>();
  private readonly feedLock = new Mutex();
  private readonly syncLock = new Mutex();
  private readonly wanted = new Signal();
  private readonly sleeper = new Sleeper();
  private readonly syncRetry: Backoff;
  private unreported = new Map<string, Ack>();
  private started = false;
  private stopped = false;
  private paused = false;
  private welcomes = 0;
  private autoTimer: ReturnType<typeof setTimeout> | null = null;
  private loaded: Promise<void> | null = null;

  constructor(options: DeviceOptions) {
    this.options = options;
    this.store = options.store;
    const getToken: TokenSource = options.getToken ?? (() => options.token ?? null);
    this.link = new Link({
      url: options.url,
      httpUrl: options.httpUrl ?? httpBase(options.url),
      getToken,
      hello: (token) => this.hello(token),
      onFrame: (frame) => this.onFrame(frame),
      onUndecodable: (feed) => this.onUndecodable(feed),
      webSocket: options.webSocket,
      fetch: options.fetch,
      random: options.random,
    });
    this.syncRetry = new Backoff(500, 60_000, options.random);
    this.session = new DeviceFeedSession((feed) => this.held.get(feed));
  }

  // ------------------------------------------------------------------ lifecycle

  get state(): ConnectionState {
    return this.link.state;
  }

  get connected(): boolean {
    return this.link.connected;
  }

  get stoppedBy(): DeviceStopped | null {
    return this.link.stoppedBy;
  }

  /** Connect in the background (socket transport) and start auto sync; resolves at once. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.load();
    if (this.options.transport !== "http") this.link.start();
    void this.background();
    this.scheduleAutoSync();
  }

  /** Resolves once welcomed; rejects on a terminal close or after `timeoutMs`. */
  waitConnected(timeoutMs = 10_000): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.stoppedBy !== null) return Promise.reject(this.stoppedBy);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error("device did not connect in time"));
      }, timeoutMs);
      const off = this.link.onState((event) => {
        if (event.state === "connected" || event.state === "closed") {
          clearTimeout(timer);
          off();
          if (event.state === "connected") resolve();
          else reject(this.stoppedBy ?? new DeviceStopped(event.code ?? 0, event.reason));
        }
      });
    });
  }

  /** Stop syncing and close the socket; the store stays open for the caller to close. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.link.stop();
    this.sleeper.wake();
    this.wanted.set();
    if (this.autoTimer !== null) clearTimeout(this.autoTimer);
    await this.feedLock.run(async () => undefined);
  }

  /** The app went to the background or offline: close the socket, run no syncs until `resume()`. */
  pause(): void {
    this.paused = true;
    this.link.pause();
  }

  /** The app is back in the foreground or online: reconnect now, then sync. */
  resume(): void {
    if (this.stopped) return;
    this.paused = false;
    if (this.options.transport !== "http") this.link.resume();
    else this.wanted.set();
    this.sleeper.wake();
  }

  /** Connection state changes, with the close code and reason that caused them. */
  onState(listener: (event: StateEvent) => void): () => void {
    return this.link.onState(listener);
  }

  /** Called after each change is applied and stored (before its ack). */
  onChange(listener: ChangeListener): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private load(): Promise<void> {
    this.loaded ??= this.refreshHeld();
    return this.loaded;
  }

  private async refreshHeld(): Promise<void> {
    const positions = await this.store.positions();
    this.held.clear();
    for (const p of positions) this.held.set(p.feed, p);
  }

  private async hello(token: string): Promise<Hello> {
    await this.load();
    return {
      type: "hello",
      token,
      device_uuid: this.options.deviceUuid,
      app_version: this.options.appVersion ?? "caresync-ts/0.1",
      protocol_version: PROTOCOL_VERSION,
      positions: await this.store.positions(),
    };
  }

  // ------------------------------------------------------------------ incoming frames

  private async onFrame(frame: ServerFrame): Promise<void> {
    switch (frame.type) {
      case "change":
        this.receivedChanges += 1;
        await this.handle({ type: "change_arrived", feed: frame.feed, epoch: frame.epoch, seq: frame.seq }, [frame]);
        return;
      case "welcome":
        await this.onWelcome(frame);
        return;
      case "heartbeat":
        await this.handle({ type: "heads_announced", heads: frame.heads });
        return;
      case "resync_required":
        await this.handle({ type: "resync_demanded", feeds: frame.feeds });
        return;
      case "preferences":
        this.setPreferences(frame.preferences);
        return;
      case "error":
        this.errors.push(frame);
        return;
      default:
        return;
    }
  }

  private async onUndecodable(feed: string | null): Promise<void> {
    await this.feedLock.run(async () => {
      await this.run(this.session.handle({ type: "frame_undecodable", feed, tracked: [...this.held.keys()].sort() }));
    });
  }

  private async onWelcome(welcome: Welcome): Promise<void> {
    this.welcome = welcome;
    this.setPreferences(welcome.preferences);
    const names = new Map(welcome.feeds.map((f) => [f.feed, f.carer_name]));
    const feeds = welcome.feeds.map(({ feed, epoch, head, action }) => ({ feed, epoch, head, action }));
    await this.handle({ type: "welcomed", feeds }, [], names);
    const resumed = this.welcomes > 0;
    this.welcomes += 1;
    this.link.welcomed(welcome.heartbeat_interval_s);
    const unsent = (await this.store.unsentSeen()).length > 0;
    if (resumed || unsent || (await this.store.pendingCount()) > 0) this.wanted.set(); // the push channel was down: sync at once
  }

  /** Decide under the feed lock (the decisions read the stored positions), then run the commands. */
  private handle(event: DeviceEvent, changes: readonly Change[] = [], names?: Map<string, string>): Promise<number> {
    return this.feedLock.run(() => this.run(this.session.handle(event), changes, names));
  }

  /** Run the session's commands in order (caller holds the feed lock); returns how many changes were applied. */
  private async run(commands: readonly DeviceCommand[], changes: readonly Change[] = [], names?: Map<string, string>): Promise<number> {
    const byPosition = new Map(changes.map((c) => [key(c.feed, c.epoch, c.seq), c]));
    let applied = 0;
    for (const command of commands) {
      switch (command.type) {
        case "apply_change": {
          const change = byPosition.get(key(command.feed, command.epoch, command.seq));
          if (change === undefined) throw new RangeError(`no change ${command.feed}@${command.epoch}:${command.seq} to apply`);
          await this.store.apply(change, this.preferences?.seen_window_h ?? DEFAULT_SEEN_WINDOW_H);
          this.held.set(change.feed, { feed: change.feed, epoch: change.epoch, seq: change.seq });
          applied += 1;
          this.appliedChanges += 1;
          for (const listener of this.changeListeners) listener(change);
          break;
        }
        case "send_ack":
          await this.ack(command.feed, command.epoch, command.seq);
          break;
        case "reset_feed":
          await this.store.resetFeed(command.feed, command.epoch);
          this.held.set(command.feed, { feed: command.feed, epoch: command.epoch, seq: 0 });
          break;
        case "keep_feeds":
          await this.store.forgetFeedsExcept(command.feeds.map((f) => f.feed));
          for (const offer of command.feeds) await this.store.ensureFeed(offer.feed, offer.epoch, names?.get(offer.feed) ?? "");
          await this.refreshHeld();
          break;
        case "run_standard_sync":
        case "run_clean_sync":
          this.wanted.set();
          break;
      }
    }
    return applied;
  }

  private setPreferences(preferences: TenantPreferences): void {
    const changed = JSON.stringify(preferences) !== JSON.stringify(this.preferences);
    this.preferences = preferences;
    if (changed) this.scheduleAutoSync();
  }

  /** Ack on the socket; with no socket up, keep it for the end of the sync (`reportAcks`). */
  private async ack(feed: string, epoch: number, seq: number): Promise<void> {
    if (this.options.ack === false) return;
    const ack: Ack = { type: "ack", feed, epoch, seq };
    if (this.options.transport === "http" || !this.link.send(ack)) this.unreported.set(feed, ack);
  }

  /** A request carrying `positions` was answered: the acks they cover are reported. */
  private reported(positions: readonly FeedPosition[]): void {
    const sent = new Map(positions.map((p) => [`${p.feed}\u0000${p.epoch}`, p.seq]));
    for (const [feed, ack] of this.unreported) {
      if ((sent.get(`${feed}\u0000${ack.epoch}`) ?? -1) >= ack.seq) this.unreported.delete(feed);
    }
  }

  /** Acknowledge what the last answer of a sync brought that no socket carried (over HTTP: `POST /api/v1/device/ack`). */
  private async reportAcks(timeoutMs: number): Promise<void> {
    for (const ack of [...this.unreported.values()]) {
      await this.link.acknowledge(ack, timeoutMs, this.transport());
      if (this.unreported.get(ack.feed) === ack) this.unreported.delete(ack.feed);
    }
  }

  private transport(): "auto" | "http" {
    return this.options.transport === "http" ? "http" : "auto";
  }

  // ------------------------------------------------------------------ background work

  /** Runs the syncs the device decided it needs (gaps, resets, server demands). */
  private async background(): Promise<void> {
    while (!this.stopped) {
      await this.wanted.wait();
      this.wanted.clear();
      if (this.stopped || this.stoppedBy !== null) return;
      if (this.paused) continue;
      try {
        if (this.session.wantedClean.size > 0) await this.cleanSync([...this.session.wantedClean].sort(), { force: true });
        else await this.sync();
        this.syncRetry.reset();
      } catch (error) {
        if (this.stopped || this.stoppedBy !== null) return;
        const delay = this.syncRetry.nextDelayMs();
        console.info(`caresync: background sync failed (${String(error)}); retrying in ${Math.round(delay)} ms`);
        await this.sleeper.sleep(delay);
        if (this.options.transport !== "http" && !this.connected && !this.paused) await this.waitConnected(5000).catch(() => undefined);
        this.wanted.set();
      }
    }
  }

  private scheduleAutoSync(): void {
    if (!this.started || this.stopped) return;
    if (this.autoTimer !== null) clearTimeout(this.autoTimer);
    const interval = this.options.autoSyncIntervalS ?? this.preferences?.auto_sync_interval_s ?? DEFAULT_AUTO_SYNC_S;
    this.autoTimer = setTimeout(() => void this.autoSync(), interval * 1000);
  }

  /** A standard sync on the tenant's interval, over whichever transport is up. */
  private async autoSync(): Promise<void> {
    if (this.stopped || this.stoppedBy !== null) return;
    try {
      if (!this.paused && this.preferences?.auto_sync_enabled !== false) {
        await this.sync({ upload: this.preferences?.auto_sync_uploads ?? true });
        this.autoSyncs += 1;
      }
    } catch (error) {
      console.info(`caresync: auto sync failed: ${String(error)}`);
    } finally {
      this.scheduleAutoSync();
    }
  }

  // ------------------------------------------------------------------ standard sync

  /**
   * Standard sync: upload the outbox, then download every change since the stored positions.
   * Repeats while the server says `more` or recordings remain; each request's positions
   * acknowledge the previous answer, and the last answer is acknowledged with `ack` (over
   * HTTP when no socket is up). Safe to retry after any interruption.
   */
  sync(options: SyncOptions = {}): Promise<SyncSummary> {
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs ?? 30_000;
    const upload = options.upload ?? true;
    return this.syncLock.run(async () => {
      await this.load();
      const summary: SyncSummary = { uploaded: 0, applied: 0, results: [] };
      for (;;) {
        const mutations = upload ? await this.pendingToSend() : [];
        const positions = await this.store.positions();
        const response = await this.link.request(
          {
            type: "sync_request",
            request_id: newId(),
            mutations,
            positions,
            page_size: Math.min(options.pageSize ?? MAX_CHANGES_PER_PAGE, MAX_CHANGES_PER_PAGE),
          },
          timeoutMs,
          this.transport(),
        );
        if (response.type !== "sync_response") throw new TypeError("a clean-sync answer to a sync request");
        this.reported(positions);
        await this.store.recordResults(response.results);
        summary.uploaded += response.results.length;
        summary.results.push(...response.results);
        summary.applied += await this.applyResponse(response);
        const more = mutations.length > 0 && response.results.length > 0 && (await this.store.pendingCount()) > 0;
        if (!response.more && !more) {
          await this.reportAcks(timeoutMs);
          await this.sendSeen(timeoutMs);
          this.lastSyncAt = new Date();
          return summary;
        }
      }
    });
  }

  /** The oldest recordings that fit in one request: at most 200 and the byte budget, though always the first. */
  private async pendingToSend(): Promise<Mutation[]> {
    const taken: Mutation[] = [];
    let size = 0;
    for (const mutation of await this.store.pending(MAX_MUTATIONS_PER_SYNC)) {
      size += new TextEncoder().encode(JSON.stringify(mutation)).length + 1;
      if (taken.length > 0 && size > UPLOAD_BYTES_PER_SYNC) break;
      taken.push(mutation);
    }
    return taken;
  }

  private applyResponse(response: SyncResponse): Promise<number> {
    return this.handle(
      {
        type: "sync_answer",
        resets: response.resets,
        heads: response.heads,
        changes: response.changes.map((c) => ({ feed: c.feed, epoch: c.epoch, seq: c.seq })),
        resync: response.resync,
      },
      response.changes,
    );
  }

  // ------------------------------------------------------------------ clean sync

  /**
   * Replace the local copy of `feeds` (default: all) with a fresh snapshot. Refused with
   * {@link CleanSyncRefused} while a visit is checked in or a form is open, unless `force`;
   * nothing the carer recorded is touched either way. Uploads go first; pages are staged and
   * swapped in atomically when complete; an interrupted clean sync resumes from its last page.
   */
  async cleanSync(feeds?: readonly string[], options: { force?: boolean; timeoutMs?: number } = {}): Promise<Map<string, FeedPosition>> {
    const work = await this.store.workInProgress();
    if (work.length > 0 && options.force !== true) {
      throw new CleanSyncRefused(work.map((w) => `${w.kind}${w.detail ? ` ${w.detail}` : ""} in progress on visit ${w.visitId}`));
    }
    await this.sync({ timeoutMs: options.timeoutMs }); // uploads first; a failure leaves everything as it was
    const done = new Map<string, FeedPosition>();
    for (const feed of feeds ?? (await this.store.positions()).map((p) => p.feed)) {
      done.set(feed, await this.cleanOne(feed, options.timeoutMs));
    }
    await this.sync({ timeoutMs: options.timeoutMs }); // continue from the snapshot position
    return done;
  }

  private async cleanOne(feed: string, timeoutMs?: number): Promise<FeedPosition> {
    let restarted = false;
    for (;;) {
      const staged = await this.store.staged(feed);
      if (staged !== null && staged.nextCursor === null) break; // complete but not swapped
      let page: CleanSyncResponse;
      try {
        const response = await this.link.request(
          { type: "clean_sync_request", request_id: newId(), feed, cursor: staged?.nextCursor ?? null, page_size: 50 },
          timeoutMs ?? this.options.requestTimeoutMs ?? 30_000,
          this.transport(),
        );
        if (response.type !== "clean_sync_response") throw new TypeError("a sync answer to a clean-sync request");
        page = response;
      } catch (error) {
        if (error instanceof RequestFailed && RESTARTABLE.has(error.error.code) && staged !== null && !restarted) {
          await this.store.discardStaging(feed);
          restarted = true;
          continue;
        }
        throw error;
      }
      await this.store.stagePage(page);
      if (page.next_cursor === null) break;
    }
    return this.feedLock.run(async () => {
      const position = await this.store.swapIn(feed);
      this.held.set(feed, position);
      await this.run(this.session.handle({ type: "snapshot_swapped", position }));
      return position;
    });
  }

  // ------------------------------------------------------------------ recordings

  /** Check in (the visit counts as work in progress until check-out); returns the mutation id. */
  async checkIn(carerId: string, visitId: string, options: { at?: Date; location?: Location | null } = {}): Promise<number> {
    const at = (options.at ?? new Date()).toISOString();
    const mutation = await this.store.record(
      (id) => ({ kind: "check_in", mutation_id: id, carer_id: carerId, visit_id: visitId, captured_at: at, location: options.location ?? null }),
      { begin: { visitId, kind: "check-in", detail: "", since: at } },
    );
    return mutation.mutation_id;
  }

  async checkOut(carerId: string, visitId: string, options: { at?: Date; location?: Location | null } = {}): Promise<number> {
    const at = (options.at ?? new Date()).toISOString();
    const mutation = await this.store.record(
      (id) => ({ kind: "check_out", mutation_id: id, carer_id: carerId, visit_id: visitId, captured_at: at, location: options.location ?? null }),
      { end: { visitId, kind: "check-in", detail: "" } },
    );
    return mutation.mutation_id;
  }

  async recordTask(carerId: string, visitId: string, taskId: string, done: boolean, reason: string | null = null): Promise<number> {
    const at = new Date().toISOString();
    const mutation = await this.store.record((id) => ({
      kind: "task_outcome",
      mutation_id: id,
      carer_id: carerId,
      visit_id: visitId,
      captured_at: at,
      task_id: taskId,
      done,
      reason,
    }));
    return mutation.mutation_id;
  }

  async addNote(carerId: string, visitId: string, text: string): Promise<number> {
    const at = new Date().toISOString();
    const mutation = await this.store.record((id) => ({ kind: "visit_note", mutation_id: id, carer_id: carerId, visit_id: visitId, captured_at: at, text }));
    return mutation.mutation_id;
  }

  /** The carer started filling in `form`: a clean sync will ask first. */
  async openForm(visitId: string, form: string): Promise<void> {
    await this.store.beginWork({ visitId, kind: "form", detail: form, since: new Date().toISOString() });
  }

  async submitForm(carerId: string, visitId: string, form: string, data: Record<string, unknown>): Promise<number> {
    const at = new Date().toISOString();
    const mutation = await this.store.record(
      (id) => ({ kind: "form_submission", mutation_id: id, carer_id: carerId, visit_id: visitId, captured_at: at, form, data }),
      { end: { visitId, kind: "form", detail: form } },
    );
    return mutation.mutation_id;
  }

  // ------------------------------------------------------------------ the carer's acknowledgement

  /** Changes the carer has to acknowledge and has not (docs/protocol.md 4b), oldest first. */
  awaitingSeen(carerId?: string): Promise<AwaitingSeen[]> {
    return this.store.awaitingSeen(carerId);
  }

  /**
   * The carer saw `changes` (default: every one awaiting). Noted durably first, then sent as
   * `seen` (socket, else HTTP); if that fails it is sent again after the next sync. Resolves
   * with how many the server has recorded now.
   */
  async acknowledge(changes?: readonly AwaitingSeen[], options: { at?: Date; timeoutMs?: number } = {}): Promise<number> {
    const chosen = changes ?? (await this.awaitingSeen());
    await this.store.markSeen(chosen, (options.at ?? new Date()).toISOString());
    try {
      return await this.sendSeen(options.timeoutMs ?? this.options.requestTimeoutMs ?? 30_000);
    } catch (error) {
      console.info(`caresync: seen not sent now (${String(error)}); kept for the next sync`);
      return 0;
    }
  }

  /** Send every acknowledgement the server has not answered; resolves with how many it recorded. */
  async sendSeen(timeoutMs = 30_000): Promise<number> {
    let recorded = 0;
    for (const unsent of await this.store.unsentSeen()) {
      for (let start = 0; start < unsent.seqs.length; start += MAX_SEEN_PER_FRAME) {
        const seqs = unsent.seqs.slice(start, start + MAX_SEEN_PER_FRAME);
        const frame = { type: "seen", request_id: newId(), feed: unsent.feed, epoch: unsent.epoch, seqs, seen_at: unsent.seenAt } as const;
        try {
          const answer = await this.link.request(frame, timeoutMs, this.transport());
          if (answer.type !== "seen_recorded") throw new TypeError("another answer to a seen");
          recorded += seqs.length;
        } catch (error) {
          if (!(error instanceof RequestFailed && SEEN_REFUSED_FOR_GOOD.has(error.error.code))) throw error;
        }
        await this.store.seenAnswered(unsent.feed, unsent.epoch, seqs);
      }
    }
    return recorded;
  }

  // ------------------------------------------------------------------ reading

  visits(carerId?: string): Promise<VisitView[]> {
    return this.store.visits(carerId);
  }

  /** Visits starting today (UTC day of `now`), by start time. */
  async visitsToday(carerId?: string, now: Date = new Date()): Promise<VisitView[]> {
    const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
    const end = new Date(start.getTime() + 86_400_000);
    return (await this.store.visits(carerId)).filter((v) => {
      const at = new Date(v.starts_at);
      return at >= start && at < end;
    });
  }

  async positions(): Promise<Map<string, FeedPosition>> {
    return new Map((await this.store.positions()).map((p) => [p.feed, p]));
  }

  pendingCount(): Promise<number> {
    return this.store.pendingCount();
  }
}
