/**
 * A {@link DeviceStore} over one JSON-serialisable state object: every transaction works on
 * a copy, hands it to `persist` (a no-op in memory, a fsync'd file for Node, one IndexedDB
 * record in a browser) and only then takes it as the current state. A transaction that
 * throws, or whose write fails, leaves the state as it was. Sized for a phone's data (a
 * carer's visits of a few weeks and the outbox), not for a server.
 */
import type { Change, CleanSyncResponse, FeedPosition, MutationResult, VisitView } from "./frames.generated.js";
import type { DeviceStore, Mutation, StagedSnapshot, WorkInProgress } from "./store.js";

export interface StoreState {
  version: 1;
  feeds: Record<string, { epoch: number; seq: number; carerName: string }>;
  visits: Record<string, Record<string, VisitView>>;
  outbox: Array<{ mutation: Mutation; done: boolean; result: MutationResult | null }>;
  lastMutationId: number;
  work: WorkInProgress[];
  staging: Record<string, { snapshotId: string; epoch: number; seq: number; nextCursor: string | null; visits: Record<string, VisitView> }>;
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
        }
      }
    });
  }

  apply(change: Change): Promise<void> {
    return this.transact((s) => {
      const held = s.feeds[change.feed];
      if (held === undefined || held.epoch !== change.epoch || held.seq !== change.seq - 1) {
        throw new RangeError(`change ${change.feed}@${change.epoch}:${change.seq} does not follow the stored position`);
      }
      held.seq = change.seq;
      const visits = (s.visits[change.feed] ??= {});
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

  async close(): Promise<void> {
    await this.queue;
  }
}

function addWork(s: StoreState, work: WorkInProgress): void {
  if (!s.work.some((w) => w.visitId === work.visitId && w.kind === work.kind && w.detail === work.detail)) s.work.push(work);
}
