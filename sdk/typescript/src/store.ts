/**
 * The device's local storage, behind an interface the app implements on its own database
 * (SQLite in React Native, IndexedDB in a web view). The rules (docs/protocol.md, 2 and 4a):
 *
 * - `apply` stores a change and moves its feed's position in ONE transaction;
 * - `record` allocates a mutation id (never reused) and puts the mutation in the outbox in
 *   one transaction, so a recording survives an app kill the moment the call resolves;
 * - clean-sync pages are staged apart from the live copy and `swapIn` replaces the feed's
 *   visits and position atomically.
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
  /** Apply a change and move its feed to its seq in one transaction; throws if it does not follow. */
  apply(change: Change): Promise<void>;
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

  close(): Promise<void>;
}
