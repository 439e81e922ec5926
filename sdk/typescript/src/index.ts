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
