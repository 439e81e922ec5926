/** The SDK's errors. */
import type { Error as ErrorFrame } from "./frames.generated.js";

/** The server closed with a terminal code (revoked, bad token...), or the app signed out. */
export class DeviceStopped extends Error {
  override readonly name = "DeviceStopped";
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(`closed with terminal code ${code}: ${reason}`);
  }
}

/** The server answered a request with an `error` (or an HTTP error body). */
export class RequestFailed extends Error {
  override readonly name = "RequestFailed";
  constructor(
    readonly error: ErrorFrame,
    readonly status: number | null = null,
  ) {
    super(`${error.code}: ${error.message}`);
  }
}

/** The link went down (or never came up) before the request was answered. */
export class ConnectionLost extends Error {
  override readonly name = "ConnectionLost";
}

/** A clean sync was not started because work is in progress; `force` overrides (the work is kept either way). */
export class CleanSyncRefused extends Error {
  override readonly name = "CleanSyncRefused";
  constructor(readonly reasons: readonly string[]) {
    super(`clean sync refused: ${reasons.join("; ")}`);
  }
}
