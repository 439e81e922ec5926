/** The few routing fields of a frame that failed to decode (protocol/device_session.py, `peek`). */
export interface FramePeek {
  readonly type: string | null;
  readonly feed: string | null;
  readonly request_id: string | null;
}

const NOTHING: FramePeek = { type: null, feed: null, request_id: null };

/** Its `type`, `feed` and `request_id` when they can be read; all `null` if even those fail. */
export function peek(raw: string): FramePeek {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return NOTHING;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return NOTHING;
  const record = value as Record<string, unknown>;
  const read = (key: string): string | null | undefined => {
    const field = record[key];
    if (field === undefined || field === null) return null;
    return typeof field === "string" ? field : undefined;
  };
  const type = read("type");
  const feed = read("feed");
  const requestId = read("request_id");
  if (type === undefined || feed === undefined || requestId === undefined) return NOTHING;
  return { type, feed, request_id: requestId };
}
