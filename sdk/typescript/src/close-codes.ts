/** What a close code means for reconnecting (docs/protocol.md, 7.2 and 7.3; protocol/errors.py). */

/** Whether a device closed with `code` should reconnect by itself. */
export function shouldReconnect(code: number): boolean {
  if (code >= 4100 && code < 4200) return false;
  return ![1002, 1003, 1007, 1008, 1009].includes(code);
}

/** The wait a 4003 (or 4005) close reason asks for (`retry in N s`), in ms. */
export function retryHintMs(reason: string): number | null {
  const found = /retry in (\d+(?:\.\d+)?) s/.exec(reason);
  return found?.[1] === undefined ? null : Number(found[1]) * 1000;
}

/** The wait a draining node's 4000 close reason names (`reconnect_after_ms=N`), in ms. */
export function reconnectAfterMs(reason: string): number | null {
  const found = /reconnect_after_ms=(\d+)/.exec(reason);
  return found?.[1] === undefined ? null : Number(found[1]);
}

/** Added at random to a draining node's `reconnect_after_ms`. */
export const DRAIN_JITTER_MS = 250;
