/**
 * The device side of a feed session as a pure state machine: the same rules as
 * protocol/device_session.py (docs/protocol.md, sections 2 to 4a), no I/O, timers or clocks.
 *
 * The session reads the device's stored positions through `positions` and never assumes a
 * position moved: it returns commands, and the client applies a change together with its new
 * position in one local transaction before it runs the ack that follows it.
 */
import type { FeedPosition } from "./frames.generated.js";
import { decideChange, decideHead } from "./tracker.js";

/** The device's stored position of a feed (`undefined`: the feed is not on the device). */
export type PositionOf = (feed: string) => FeedPosition | undefined;

export type FeedAction = "resume" | "catch_up" | "reset" | "clean_sync";

/** One feed of a `welcome`. */
export interface FeedOffer {
  readonly feed: string;
  readonly epoch: number;
  readonly head: number;
  readonly action: FeedAction;
}

export type DeviceEvent =
  | { readonly type: "welcomed"; readonly feeds: readonly FeedOffer[] }
  | { readonly type: "change_arrived"; readonly feed: string; readonly epoch: number; readonly seq: number }
  | { readonly type: "heads_announced"; readonly heads: readonly FeedPosition[] }
  | {
      readonly type: "sync_answer";
      readonly resets: readonly string[];
      readonly heads: readonly FeedPosition[];
      readonly changes: readonly FeedPosition[];
      readonly resync?: readonly string[];
    }
  | { readonly type: "resync_demanded"; readonly feeds: readonly string[] }
  | { readonly type: "snapshot_swapped"; readonly position: FeedPosition }
  | { readonly type: "frame_undecodable"; readonly feed: string | null; readonly tracked: readonly string[] };

export type ChangeArrived = Extract<DeviceEvent, { type: "change_arrived" }>;

export type DeviceCommand =
  | { readonly type: "keep_feeds"; readonly feeds: readonly FeedOffer[] }
  | { readonly type: "reset_feed"; readonly feed: string; readonly epoch: number }
  | { readonly type: "apply_change"; readonly feed: string; readonly epoch: number; readonly seq: number }
  | { readonly type: "send_ack"; readonly feed: string; readonly epoch: number; readonly seq: number }
  | { readonly type: "run_standard_sync" }
  | { readonly type: "run_clean_sync"; readonly feeds: readonly string[] };

export type ChangeOutcome = "apply" | "duplicate" | "repair" | "ignored";

export class DeviceFeedSession {
  /** Feeds waiting for a clean sync: pushes for them are not applied meanwhile. */
  readonly wantedClean = new Set<string>();

  constructor(private readonly positions: PositionOf) {}

  /** Apply one event; return the commands to run, in order. */
  handle(event: DeviceEvent): DeviceCommand[] {
    switch (event.type) {
      case "change_arrived":
        return this.change(event);
      case "heads_announced":
        return this.heads(event.heads);
      case "sync_answer":
        return this.syncAnswer(event);
      case "welcomed":
        return this.welcome(event.feeds);
      case "resync_demanded":
        return this.wantClean(event.feeds);
      case "frame_undecodable":
        return this.undecodable(event.feed, event.tracked);
      case "snapshot_swapped":
        this.wantedClean.delete(event.position.feed);
        return [];
    }
  }

  /** What a pushed change is, for counters: applied, a duplicate, a repair, ignored. */
  classify(event: ChangeArrived): ChangeOutcome {
    const stored = this.positions(event.feed);
    if (stored === undefined || this.wantedClean.has(event.feed)) return "ignored";
    const decision = decideChange(stored, event.epoch, event.seq);
    if (decision.kind === "apply") return "apply";
    return decision.kind === "gap" || decision.kind === "epoch_reset" ? "repair" : "duplicate";
  }

  private welcome(feeds: readonly FeedOffer[]): DeviceCommand[] {
    const commands: DeviceCommand[] = [{ type: "keep_feeds", feeds }];
    const clean: string[] = [];
    for (const offer of feeds) {
      const stored = this.positions(offer.feed);
      if (offer.action === "clean_sync") clean.push(offer.feed);
      else if (offer.action === "reset" || (stored !== undefined && stored.epoch !== offer.epoch)) {
        commands.push({ type: "reset_feed", feed: offer.feed, epoch: offer.epoch });
      }
    }
    return clean.length > 0 ? [...commands, ...this.wantClean(clean)] : commands;
  }

  private change(event: ChangeArrived): DeviceCommand[] {
    const outcome = this.classify(event);
    const { feed, epoch, seq } = event;
    if (outcome === "apply") {
      return [
        { type: "apply_change", feed, epoch, seq },
        { type: "send_ack", feed, epoch, seq },
      ];
    }
    return outcome === "repair" ? [{ type: "run_standard_sync" }] : [];
  }

  private heads(heads: readonly FeedPosition[]): DeviceCommand[] {
    const commands: DeviceCommand[] = [];
    let behind = false;
    for (const head of heads) {
      const stored = this.positions(head.feed);
      if (stored === undefined) continue;
      const decision = decideHead(stored, head.epoch, head.seq);
      if (decision.kind === "epoch_reset" || decision.kind === "head_behind") {
        commands.push({ type: "reset_feed", feed: head.feed, epoch: head.epoch });
      }
      behind = behind || decision.kind !== "in_sync";
    }
    return behind ? [...commands, { type: "run_standard_sync" }] : [];
  }

  private syncAnswer(event: Extract<DeviceEvent, { type: "sync_answer" }>): DeviceCommand[] {
    const epochs = new Map(event.heads.map((h) => [h.feed, h.epoch]));
    const commands: DeviceCommand[] = [];
    const now = new Map<string, FeedPosition>();
    for (const feed of event.resets) {
      const epoch = epochs.get(feed);
      if (epoch === undefined) throw new RangeError(`reset feed ${feed} has no head`);
      commands.push({ type: "reset_feed", feed, epoch });
      now.set(feed, { feed, epoch, seq: 0 });
    }
    const last = new Map<string, DeviceCommand & { type: "apply_change" }>();
    for (const change of event.changes) {
      let stored = now.get(change.feed) ?? this.positions(change.feed);
      if (stored === undefined) continue;
      if (stored.epoch !== change.epoch && epochs.has(change.feed)) {
        commands.push({ type: "reset_feed", feed: change.feed, epoch: change.epoch });
        stored = { feed: change.feed, epoch: change.epoch, seq: 0 };
      }
      if (decideChange(stored, change.epoch, change.seq).kind === "apply") {
        const applied = { type: "apply_change", feed: change.feed, epoch: change.epoch, seq: change.seq } as const;
        commands.push(applied);
        last.set(change.feed, applied);
        stored = change;
      }
      now.set(change.feed, stored);
    }
    for (const applied of last.values()) {
      commands.push({ type: "send_ack", feed: applied.feed, epoch: applied.epoch, seq: applied.seq });
    }
    const resync = event.resync ?? [];
    return resync.length > 0 ? [...commands, ...this.wantClean(resync)] : commands;
  }

  /**
   * A frame that cannot be read may have been a change: replaying the feed would meet it
   * again, so the device's copy is replaced by a snapshot instead. A frame naming a held
   * feed costs that feed; one naming none (or unreadable) costs every feed held.
   */
  private undecodable(feed: string | null, tracked: readonly string[]): DeviceCommand[] {
    if (feed !== null && tracked.includes(feed)) return this.wantClean([feed]);
    return tracked.length > 0 ? this.wantClean(tracked) : [];
  }

  private wantClean(feeds: readonly string[]): DeviceCommand[] {
    for (const feed of feeds) this.wantedClean.add(feed);
    return [{ type: "run_clean_sync", feeds: [...this.wantedClean].sort() }];
  }
}
