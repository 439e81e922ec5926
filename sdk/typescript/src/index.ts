export * from "./frames.generated.js";
export { decodeServerFrame, decodeAs, FrameDecodeError } from "./decode.js";
export { peek, type FramePeek } from "./peek.js";
export { decideChange, decideHead, type ChangeDecision, type HeadDecision } from "./tracker.js";
export {
  DeviceFeedSession,
  type ChangeArrived,
  type ChangeOutcome,
  type DeviceCommand,
  type DeviceEvent,
  type FeedAction,
  type FeedOffer,
  type PositionOf,
} from "./session.js";
export { Backoff } from "./backoff.js";
export { shouldReconnect, retryHintMs, reconnectAfterMs } from "./close-codes.js";
export { CleanSyncRefused, ConnectionLost, DeviceStopped, RequestFailed } from "./errors.js";
export type { AwaitingSeen, DeviceStore, Mutation, StagedSnapshot, UnsentSeen, WorkInProgress } from "./store.js";
export { DEFAULT_SEEN_WINDOW_H, MAX_SEEN_PER_FRAME, needsSeen, withinWindow } from "./seen-policy.js";
export { StateStore, emptyState, type StoreState } from "./state-store.js";
export { MemoryStore } from "./memory-store.js";
export {
  httpBase,
  Link,
  type ConnectionState,
  type FetchLike,
  type StateEvent,
  type TokenSource,
  type WebSocketFactory,
  type WebSocketLike,
} from "./link.js";
export { Device, type ChangeListener, type DeviceOptions, type SyncOptions, type SyncSummary } from "./device.js";
export { enrol, type Enrolment, type EnrolRequest } from "./enrol.js";
