/** Enrolment: a new phone exchanges the office's one-time code for its token (docs/protocol.md 8.1). */
import { RequestFailed } from "./errors.js";
import type { FetchLike } from "./link.js";

export interface Enrolment {
  readonly deviceId: string;
  readonly token: string;
}

export interface EnrolRequest {
  readonly code: string;
  readonly uuid: string;
  readonly appVersion: string;
  readonly platform: string;
}

/** `POST /api/v1/device/enrol`; store the token securely (Keychain / Keystore) and pass it to the device. */
export async function enrol(httpUrl: string, request: EnrolRequest, fetchImpl?: FetchLike): Promise<Enrolment> {
  const post = fetchImpl ?? (globalThis as { fetch?: FetchLike }).fetch?.bind(globalThis);
  if (post === undefined) throw new Error("no global fetch: pass one");
  const reply = await post(`${httpUrl.replace(/\/$/, "")}/api/v1/device/enrol`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code: request.code, uuid: request.uuid, app_version: request.appVersion, platform: request.platform }),
  });
  const text = await reply.text();
  if (reply.status !== 201) {
    let code = "internal_error";
    let message = `HTTP ${reply.status}`;
    try {
      const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
      code = body.error?.code ?? code;
      message = body.error?.message ?? message;
    } catch {
      // not JSON
    }
    throw new RequestFailed({ type: "error", code, message, request_id: null }, reply.status);
  }
  const body = JSON.parse(text) as { device_id: string; token: string };
  return { deviceId: body.device_id, token: body.token };
}
