/**
 * The per-feed sequence tracker (docs/protocol.md, section 2; protocol/tracker.py): what an
 * incoming change or an announced head means for the position a device has stored.
 */
import type { FeedPosition } from "./frames.generated.js";

export type ChangeDecision =
  | { readonly kind: "apply"; readonly seq: number }
  | { readonly kind: "duplicate"; readonly seq: number }
  | { readonly kind: "gap"; readonly first: number; readonly last: number }
  | { readonly kind: "epoch_reset"; readonly epoch: number };

export type HeadDecision =
  | { readonly kind: "in_sync" }
  | { readonly kind: "gap"; readonly first: number; readonly last: number }
  | { readonly kind: "epoch_reset"; readonly epoch: number }
  | { readonly kind: "head_behind"; readonly head: number };

/** What to do with change `(epoch, seq)` given the `stored` position. */
export function decideChange(stored: FeedPosition, epoch: number, seq: number): ChangeDecision {
  if (epoch !== stored.epoch) return { kind: "epoch_reset", epoch };
  if (seq <= stored.seq) return { kind: "duplicate", seq };
  if (seq === stored.seq + 1) return { kind: "apply", seq };
  return { kind: "gap", first: stored.seq + 1, last: seq - 1 };
}

/** What an announced feed head means for the `stored` position. */
export function decideHead(stored: FeedPosition, epoch: number, head: number): HeadDecision {
  if (epoch !== stored.epoch) return { kind: "epoch_reset", epoch };
  if (head === stored.seq) return { kind: "in_sync" };
  if (head < stored.seq) return { kind: "head_behind", head };
  return { kind: "gap", first: stored.seq + 1, last: head };
}
