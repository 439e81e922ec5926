/**
 * Which changes need the carer's acknowledgement (docs/protocol.md 4b; the same rule as
 * protocol/seen_policy.py): a change to a visit that starts within the tenant's
 * `seen_window_h` hours of the change's commit, or is under way then. A `visit_removed` is
 * judged by the copy of the visit the device held; `seen_window_h` 0 turns it off. Whatever
 * the window says, a `visit_upsert` sent with `needs_seen` (notes a coordinator marked as
 * needing acknowledgement) needs it.
 */
import type { Change, VisitView } from "./frames.generated.js";

export const DEFAULT_SEEN_WINDOW_H = 24;
export const MAX_SEEN_PER_FRAME = 200;
const HOUR_MS = 3_600_000;

export function withinWindow(committedAtMs: number, startsAtMs: number, endsAtMs: number, windowH: number): boolean {
  if (windowH <= 0 || endsAtMs <= committedAtMs) return false;
  return startsAtMs - committedAtMs <= windowH * HOUR_MS;
}

export function needsSeen(change: Change, held: VisitView | null, windowH: number): boolean {
  if (change.payload.kind === "visit_upsert" && change.payload.needs_seen) return true;
  const visit = change.payload.kind === "visit_removed" ? held : change.payload.visit;
  if (visit === null) return false;
  return withinWindow(Date.parse(change.committed_at), Date.parse(visit.starts_at), Date.parse(visit.ends_at), windowH);
}
