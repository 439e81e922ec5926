/**
 * The device's local storage, behind an interface the app implements on its own database
 * (SQLite in React Native, IndexedDB in a web view). The rules (docs/protocol.md, 2 and 4a):
 *
 * - `apply` stores a change and moves its feed's position in ONE transaction;
 * - `record` allocates a mutation id (never reused) and puts the mutation in the outbox in
 *   one transaction, so a recording survives an app kill the moment the call resolves;
 * - clean-sync pages are staged apart from the live copy and `swapIn` replaces the feed's
 *   visits and position atomically;
 * - a change that needs the carer's acknowledgement (4b) is noted as awaiting it by the
 *   `apply` that stores it; the carer's acknowledgement is kept until the server answers it.
 *
 * Every method resolves only once its write is durable.
 */
import type {
  Change,
  CheckIn,
  CheckOut,
  CleanSyncResponse,
  FeedPosition,
  FormSubmission,
  MutationResult,
  TaskOutcome,
  VisitNote,
  VisitView,
} from "./frames.generated.js";

export type Mutation = CheckIn | CheckOut | TaskOutcome | VisitNote | FormSubmission;

/** A visit checked in, or a form opened: a clean sync asks before going ahead. */
export interface WorkInProgress {
  readonly visitId: string;
  readonly kind: "check-in" | "form";
  readonly detail: string;
  readonly since: string;
}

/** A change the carer has to acknowledge (the tenant's policy says it needs it). */
export interface AwaitingSeen {
  readonly feed: string;
  readonly epoch: number;
  readonly seq: number;
  readonly visitId: string;
  readonly committedAt: string;
}

/** Acknowledgements the server has not answered, per feed and epoch. */
export interface UnsentSeen {
  readonly feed: string;
  readonly epoch: number;
  /** The earliest time the carer saw one of them. */
  readonly seenAt: string;
  readonly seqs: number[];
}

export interface StagedSnapshot {
  readonly snapshotId: string;
  readonly nextCursor: string | null;
}

export interface DeviceStore {
  positions(): Promise<FeedPosition[]>;
  /** Start tracking a feed at `(epoch, 0)` unless it is tracked already. */
  ensureFeed(feed: string, epoch: number, carerName: string): Promise<void>;
  /** Drop the feed's visits and start it over at `(epoch, 0)`. */
  resetFeed(feed: string, epoch: number): Promise<void>;
  /** Drop the feeds (and their visits) not listed; the outbox is kept. */
  forgetFeedsExcept(feeds: readonly string[]): Promise<void>;
  /**
   * Apply a change and move its feed to its seq in one transaction; throws if it does not
   * follow. With `seenWindowH`, a change that needs the carer's acknowledgement is noted in
   * the same transaction (a `visit_removed` judged by the copy held before it).
   */
  apply(change: Change, seenWindowH?: number): Promise<void>;
  visits(feed?: string): Promise<VisitView[]>;

  /** Allocate the next mutation id and put `build(id)` in the outbox, in one transaction. */
  record(build: (mutationId: number) => Mutation, work?: { begin?: WorkInProgress; end?: Omit<WorkInProgress, "since"> }): Promise<Mutation>;
  pending(limit: number): Promise<Mutation[]>;
  pendingCount(): Promise<number>;
  /** Mark the answered mutations done. */
  recordResults(results: readonly MutationResult[]): Promise<void>;
  result(mutationId: number): Promise<MutationResult | null>;

  beginWork(work: WorkInProgress): Promise<void>;
  workInProgress(): Promise<WorkInProgress[]>;

  staged(feed: string): Promise<StagedSnapshot | null>;
  /** Keep one snapshot page (and where to resume) in staging; the live copy is untouched. */
  stagePage(page: CleanSyncResponse): Promise<void>;
  /** Replace the feed's visits with the complete staged snapshot and take its position. */
  swapIn(feed: string): Promise<FeedPosition>;
  discardStaging(feed: string): Promise<void>;

  /** Changes awaiting the carer's acknowledgement (of one feed, or all), oldest first. */
  awaitingSeen(feed?: string): Promise<AwaitingSeen[]>;
  /** The carer saw these changes (the first time stands); kept until answered. */
  markSeen(changes: ReadonlyArray<{ feed: string; epoch: number; seq: number }>, at: string): Promise<void>;
  unsentSeen(): Promise<UnsentSeen[]>;
  /** The server recorded (or refused for good) these: forget them. */
  seenAnswered(feed: string, epoch: number, seqs: readonly number[]): Promise<void>;

  close(): Promise<void>;
}
