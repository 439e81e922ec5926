/**
 * Decoding server frames against docs/frames.schema.json (the definitions generated into
 * frames.generated.ts): a frame that does not match throws {@link FrameDecodeError}, which
 * the client turns into a failed request or a clean sync, never a dropped link. Unknown
 * fields are ignored (kept as they are); absent fields that have a default get it.
 */
import { SCHEMA_DEFS, type SchemaNode, type ServerFrame } from "./frames.generated.js";

export class FrameDecodeError extends Error {
  override readonly name = "FrameDecodeError";
}

const SERVER_TYPES: Readonly<Record<string, string>> = {
  welcome: "Welcome",
  change: "Change",
  heartbeat: "Heartbeat",
  sync_response: "SyncResponse",
  clean_sync_response: "CleanSyncResponse",
  resync_required: "ResyncRequired",
  preferences: "Preferences",
  seen_recorded: "SeenRecorded",
  error: "Error",
};

/** Parse and check one server frame (text of a WebSocket frame or an HTTP body). */
export function decodeServerFrame(text: string): ServerFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new FrameDecodeError(`not JSON: ${String(error)}`);
  }
  const type = isRecord(value) ? value["type"] : undefined;
  const name = typeof type === "string" ? SERVER_TYPES[type] : undefined;
  if (name === undefined) throw new FrameDecodeError(`unknown frame type ${JSON.stringify(type)}`);
  return check(definition(name), value, "$") as ServerFrame;
}

/** Check a value against one definition (e.g. `"SyncResponse"` for an HTTP answer). */
export function decodeAs<T>(name: string, text: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new FrameDecodeError(`not JSON: ${String(error)}`);
  }
  return check(definition(name), value, "$") as T;
}

function definition(name: string): SchemaNode {
  const node = SCHEMA_DEFS[name];
  if (node === undefined) throw new FrameDecodeError(`no definition ${name}`);
  return node;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function fail(path: string, what: string): never {
  throw new FrameDecodeError(`${path}: ${what}`);
}

function check(node: SchemaNode, value: unknown, path: string): unknown {
  if (node.$ref !== undefined) return check(definition(node.$ref.replace("#/$defs/", "")), value, path);
  const alternatives = node.oneOf ?? node.anyOf;
  if (alternatives !== undefined) {
    const reasons: string[] = [];
    for (const alternative of alternatives) {
      try {
        return check(alternative, value, path);
      } catch (error) {
        reasons.push(error instanceof Error ? error.message : String(error));
      }
    }
    return fail(path, `matches none of its forms (${reasons.join("; ")})`);
  }
  if (node.enum !== undefined) {
    if (!node.enum.includes(value)) fail(path, `${JSON.stringify(value)} is not one of ${JSON.stringify(node.enum)}`);
    return value;
  }
  switch (node.type) {
    case "string":
      if (typeof value !== "string") fail(path, "expected a string");
      if (value.includes("\u0000")) fail(path, "contains U+0000");
      if (node.minLength !== undefined && [...value].length < node.minLength) fail(path, "too short");
      if (node.maxLength !== undefined && [...value].length > node.maxLength) fail(path, "too long");
      return value;
    case "integer":
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) fail(path, `expected a ${node.type}`);
      if (node.type === "integer" && !Number.isInteger(value)) fail(path, "expected an integer");
      if (node.minimum !== undefined && value < node.minimum) fail(path, `below ${node.minimum}`);
      if (node.maximum !== undefined && value > node.maximum) fail(path, `above ${node.maximum}`);
      return value;
    case "boolean":
      if (typeof value !== "boolean") fail(path, "expected a boolean");
      return value;
    case "null":
      if (value !== null) fail(path, "expected null");
      return value;
    case "array":
      if (!Array.isArray(value)) fail(path, "expected an array");
      return node.items === undefined ? value : value.map((item, i) => check(node.items as SchemaNode, item, `${path}[${i}]`));
    case "object":
      return checkObject(node, value, path);
    default:
      return fail(path, `unsupported schema ${JSON.stringify(node)}`);
  }
}

function checkObject(node: SchemaNode, value: unknown, path: string): Record<string, unknown> {
  if (!isRecord(value)) fail(path, "expected an object");
  if (node.properties === undefined) return value;
  const out: Record<string, unknown> = { ...value };
  const required = new Set(node.required ?? []);
  for (const [field, spec] of Object.entries(node.properties)) {
    if (field in value) out[field] = check(spec, value[field], `${path}.${field}`);
    else if ("default" in spec) out[field] = structuredClone(spec.default);
    else if (required.has(field)) fail(path, `missing ${field}`);
  }
  return out;
}
