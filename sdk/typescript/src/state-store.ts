/**
 * A {@link DeviceStore} over one JSON-serialisable state object: every transaction works on
 * a copy, hands it to `persist` (a no-op in memory, a fsync'd file for Node, one IndexedDB
 * record in a browser) and only then takes it as the current state. A transaction that
 * throws, or whose write fails, leaves the state as it was. Sized for a phone's data (a
 * carer's visits of a few weeks and the outbox), not for a server.
 */
import type { Change, CleanSyncResponse, FeedPosition, MutationResult, VisitView } from "./frames.generated.js";
import { needsSeen } from "./seen-policy.js";
import type { AwaitingSeen, DeviceStore, Mutation, StagedSnapshot, UnsentSeen, WorkInProgress } from "./store.js";

interface ToSee {
  feed: string;
  epoch: number;
  seq: number;
  visitId: string;
  committedAt: string;
  seenAt: string | null;
}

export interface StoreState {
  version: 1;
  feeds: Record<string, { epoch: number; seq: number; carerName: string }>;
  visits: Record<string, Record<string, VisitView>>;
  outbox: Array<{ mutation: Mutation; done: boolean; result: MutationResult | null }>;
  lastMutationId: number;
  work: WorkInProgress[];
  staging: Record<string, { snapshotId: string; epoch: number; seq: number; nextCursor: string | null; visits: Record<string, VisitView> }>;
  /** Changes awaiting (or acknowledged and not yet answered) the carer's acknowledgement; absent in older states. */
  toSee?: Record<string, ToSee>;
}

/** Answered mutations kept (for `result`) before the oldest are dropped. */
const DONE_KEPT = 500;

export function emptyState(): StoreState {
  return { version: 1, feeds: {}, visits: {}, outbox: [], lastMutationId: 0, work: [], staging: {} };
}

export abstract class StateStore implements DeviceStore {
  private queue: Promise<unknown> = Promise.resolve();

  protected constructor(protected state: StoreState) {}

  /** Make `next` durable; the transaction counts only once this resolves. */
  protected abstract persist(next: StoreState): Promise<void>;

  /** Run `change` on a copy of the state, persist it, then take it (one at a time). */
  protected transact<T>(change: (state: StoreState) => T): Promise<T> {
    const run = this.queue.then(async () => {
      const next = structuredClone(this.state);
      const outcome = change(next);
      await this.persist(next);
      this.state = next;
      return outcome;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private read<T>(get: (state: StoreState) => T): Promise<T> {
    return this.queue.then(() => structuredClone(get(this.state)));
  }

  positions(): Promise<FeedPosition[]> {
    return this.read((s) =>
      Object.entries(s.feeds)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([feed, p]) => ({ feed, epoch: p.epoch, seq: p.seq })),
    );
  }

  ensureFeed(feed: string, epoch: number, carerName: string): Promise<void> {
    return this.transact((s) => {
      const held = s.feeds[feed];
      if (held === undefined) s.feeds[feed] = { epoch, seq: 0, carerName };
      else held.carerName = carerName;
    });
  }

  resetFeed(feed: string, epoch: number): Promise<void> {
    return this.transact((s) => {
      delete s.visits[feed];
      dropSeen(s, feed);
      s.feeds[feed] = { epoch, seq: 0, carerName: s.feeds[feed]?.carerName ?? "" };
    });
  }

  forgetFeedsExcept(feeds: readonly string[]): Promise<void> {
    return this.transact((s) => {
      for (const feed of Object.keys(s.feeds)) {
        if (!feeds.includes(feed)) {
          delete s.feeds[feed];
          delete s.visits[feed];
          delete s.staging[feed];
          dropSeen(s, feed);
        }
      }
    });
  }

  apply(change: Change, seenWindowH = 0): Promise<void> {
    return this.transact((s) => {
      const held = s.feeds[change.feed];
      if (held === undefined || held.epoch !== change.epoch || held.seq !== change.seq - 1) {
        throw new RangeError(`change ${change.feed}@${change.epoch}:${change.seq} does not follow the stored position`);
      }
      held.seq = change.seq;
      const visits = (s.visits[change.feed] ??= {});
      const visitId = change.payload.kind === "visit_removed" ? change.payload.visit_id : change.payload.visit.id;
      if (needsSeen(change, visits[visitId] ?? null, seenWindowH)) {
        const toSee = (s.toSee ??= {});
        toSee[seenKey(change.feed, change.epoch, change.seq)] ??= {
          feed: change.feed, epoch: change.epoch, seq: change.seq, visitId, committedAt: change.committed_at, seenAt: null,
        };
      }
      if (change.payload.kind === "visit_removed") delete visits[change.payload.visit_id];
      else visits[change.payload.visit.id] = change.payload.visit;
    });
  }

  visits(feed?: string): Promise<VisitView[]> {
    return this.read((s) => {
      const feeds = feed === undefined ? Object.keys(s.visits) : [feed];
      return feeds
        .flatMap((f) => Object.values(s.visits[f] ?? {}))
        .sort((a, b) => (a.starts_at === b.starts_at ? (a.id < b.id ? -1 : 1) : a.starts_at < b.starts_at ? -1 : 1));
    });
  }

  record(
    build: (mutationId: number) => Mutation,
    work?: { begin?: WorkInProgress; end?: Omit<WorkInProgress, "since"> },
  ): Promise<Mutation> {
    return this.transact((s) => {
      s.lastMutationId += 1;
      const mutation = build(s.lastMutationId);
      s.outbox.push({ mutation, done: false, result: null });
      if (work?.begin !== undefined) addWork(s, work.begin);
      const end = work?.end;
      if (end !== undefined) {
        s.work = s.work.filter((w) => !(w.visitId === end.visitId && w.kind === end.kind && w.detail === end.detail));
      }
      return mutation;
    });
  }

  pending(limit: number): Promise<Mutation[]> {
    return this.read((s) => s.outbox.filter((e) => !e.done).slice(0, limit).map((e) => e.mutation));
  }

  pendingCount(): Promise<number> {
    return this.read((s) => s.outbox.filter((e) => !e.done).length);
  }

  recordResults(results: readonly MutationResult[]): Promise<void> {
    if (results.length === 0) return this.queue.then(() => undefined);
    return this.transact((s) => {
      const answered = new Map(results.map((r) => [r.mutation_id, r]));
      for (const entry of s.outbox) {
        const result = answered.get(entry.mutation.mutation_id);
        if (result !== undefined && !entry.done) {
          entry.done = true;
          entry.result = result;
        }
      }
      const done = s.outbox.filter((e) => e.done).length;
      if (done > DONE_KEPT) {
        let drop = done - DONE_KEPT;
        s.outbox = s.outbox.filter((e) => !(e.done && drop-- > 0));
      }
    });
  }

  result(mutationId: number): Promise<MutationResult | null> {
    return this.read((s) => s.outbox.find((e) => e.mutation.mutation_id === mutationId)?.result ?? null);
  }

  beginWork(work: WorkInProgress): Promise<void> {
    return this.transact((s) => addWork(s, work));
  }

  workInProgress(): Promise<WorkInProgress[]> {
    return this.read((s) => s.work);
  }

  staged(feed: string): Promise<StagedSnapshot | null> {
    return this.read((s) => {
      const staged = s.staging[feed];
      return staged === undefined ? null : { snapshotId: staged.snapshotId, nextCursor: staged.nextCursor };
    });
  }

  stagePage(page: CleanSyncResponse): Promise<void> {
    return this.transact((s) => {
      const held = s.staging[page.feed];
      const visits = held !== undefined && held.snapshotId === page.snapshot_id ? held.visits : {};
      for (const visit of page.visits) visits[visit.id] = visit;
      s.staging[page.feed] = { snapshotId: page.snapshot_id, epoch: page.epoch, seq: page.seq, nextCursor: page.next_cursor, visits };
    });
  }

  swapIn(feed: string): Promise<FeedPosition> {
    return this.transact((s) => {
      const staged = s.staging[feed];
      if (staged === undefined || staged.nextCursor !== null) throw new RangeError(`no complete snapshot of feed ${feed} is staged`);
      s.visits[feed] = staged.visits;
      s.feeds[feed] = { epoch: staged.epoch, seq: staged.seq, carerName: s.feeds[feed]?.carerName ?? "" };
      delete s.staging[feed];
      return { feed, epoch: staged.epoch, seq: staged.seq };
    });
  }

  discardStaging(feed: string): Promise<void> {
    return this.transact((s) => {
      delete s.staging[feed];
    });
  }

  awaitingSeen(feed?: string): Promise<AwaitingSeen[]> {
    return this.read((s) =>
      Object.values(s.toSee ?? {})
        .filter((t) => t.seenAt === null && (feed === undefined || t.feed === feed))
        .sort((a, b) => (a.committedAt === b.committedAt ? a.seq - b.seq : a.committedAt < b.committedAt ? -1 : 1))
        .map(({ feed: f, epoch, seq, visitId, committedAt }) => ({ feed: f, epoch, seq, visitId, committedAt })),
    );
  }

  markSeen(changes: ReadonlyArray<{ feed: string; epoch: number; seq: number }>, at: string): Promise<void> {
    return this.transact((s) => {
      const toSee = (s.toSee ??= {});
      for (const { feed, epoch, seq } of changes) {
        const entry = (toSee[seenKey(feed, epoch, seq)] ??= { feed, epoch, seq, visitId: "", committedAt: at, seenAt: null });
        entry.seenAt ??= at;
      }
    });
  }

  unsentSeen(): Promise<UnsentSeen[]> {
    return this.read((s) => {
      const found = new Map<string, UnsentSeen>();
      const sent = Object.values(s.toSee ?? {}).filter((t) => t.seenAt !== null);
      for (const t of sent.sort((a, b) => a.seq - b.seq)) {
        const at = t.seenAt as string;
        const key = `${t.feed}\u0000${t.epoch}`;
        const held = found.get(key);
        found.set(key, {
          feed: t.feed,
          epoch: t.epoch,
          seenAt: held === undefined || at < held.seenAt ? at : held.seenAt,
          seqs: [...(held?.seqs ?? []), t.seq],
        });
      }
      return [...found.values()];
    });
  }

  seenAnswered(feed: string, epoch: number, seqs: readonly number[]): Promise<void> {
    return this.transact((s) => {
      for (const seq of seqs) delete s.toSee?.[seenKey(feed, epoch, seq)];
    });
  }

  async close(): Promise<void> {
    await this.queue;
  }
}

function seenKey(feed: string, epoch: number, seq: number): string {
  return `${feed}\u0000${epoch}\u0000${seq}`;
}

function dropSeen(s: StoreState, feed: string): void {
  for (const [key, t] of Object.entries(s.toSee ?? {})) if (t.feed === feed) delete s.toSee?.[key];
}

function addWork(s: StoreState, work: WorkInProgress): void {
  if (!s.work.some((w) => w.visitId === work.visitId && w.kind === work.kind && w.detail === work.detail)) s.work.push(work);
}
