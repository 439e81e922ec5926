// Compiled with tsc --strict against types generated from the node's OpenAPI document
// (tests/server/openapi/test_typescript_types.py). Each @ts-expect-error line checks the
// document is precise: it fails to compile when the type it tries is not refused.
import type { components, operations } from "./api.js";

type Schemas = components["schemas"];

type Role = Schemas["UserBody"]["role"];
export const role: Role = "coordinator";
// @ts-expect-error a role is one of a fixed set
export const notARole: Role = "manager";

type ErrorCode = Schemas["ErrorDetail"]["code"];
export const notFound: ErrorCode = "not_found";
// @ts-expect-error an error code is one of a fixed set
export const notACode: ErrorCode = "oops";

// A form's data takes any fields (it would be Record<string, never> if the document said nothing).
type FormData = Schemas["FormSubmission"]["data"];
export const fluids: FormData = { drinks_ml: 450, refused: false };

type Reschedule = operations["rescheduleVisit"];
type RescheduleBody = Reschedule["requestBody"]["content"]["application/json"];
export const move: RescheduleBody = { starts_at: "2026-12-08T08:00:00Z", ends_at: "2026-12-08T08:45:00Z" };

type Visit = Reschedule["responses"][200]["content"]["application/json"];
export function describe(visit: Visit): string {
  const tasks = visit.tasks.map((task) => task.title).join(", ");
  return `${visit.client.name} at ${visit.starts_at} (${visit.status}): ${tasks}`;
}

type Status = Visit["status"];
// @ts-expect-error a visit's status is scheduled or cancelled
export const notAStatus: Status = "maybe";

type Alerts = operations["listAlerts"]["responses"][200]["content"]["application/json"];
export function openSince(alerts: Alerts): string[] {
  return alerts.alerts.filter((alert) => alert.status === "open").map((alert) => alert.raised_at);
}

type Failure = operations["signIn"]["responses"]["default"]["content"]["application/json"];
export function message(failure: Failure): string {
  return `${failure.error.code}: ${failure.error.message}`;
}
