/**
 * Conditions of Cluster API objects in either contract: v1beta2 (`status.conditions`,
 * metav1.Condition) and v1beta1 (`status.conditions` with `severity`, or kept under
 * `status.deprecated.v1beta1.conditions` by v1beta2 objects). Views read the normalised form.
 */
import { ConditionType } from "@capi-remote/shared/conditions";
import type { Obj } from "./types.js";

/** Cluster API's own summary condition of v1beta2 objects (capi-remote does not set it). */
const CapiConditionType = { Available: "Available" } as const;

export interface NormalCondition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  since?: string;
  /** v1beta1 severity when the condition is False (Error, Warning, Info). */
  severity?: string;
}

type RawCondition = {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  severity?: string;
};

function norm(c: RawCondition): NormalCondition {
  const status = c.status === "True" || c.status === "False" ? c.status : "Unknown";
  return {
    type: c.type ?? "",
    status,
    reason: c.reason ?? "",
    message: c.message ?? "",
    ...(c.lastTransitionTime ? { since: c.lastTransitionTime } : {}),
    ...(c.severity ? { severity: c.severity } : {}),
  };
}

/**
 * The object's conditions: the v1beta2 list when there is one, else the v1beta1 list (top level
 * or deprecated). Conditions only in the v1beta1 list are appended, so nothing is hidden.
 */
export function conditionsOf(o: Pick<Obj, "status"> | undefined): NormalCondition[] {
  const top = ((o?.status?.conditions ?? []) as RawCondition[]).map(norm);
  const old = (
    (o?.status?.deprecated?.v1beta1?.conditions ?? o?.status?.v1beta2?.conditions ?? []) as RawCondition[]
  ).map(norm);
  const seen = new Set(top.map((c) => c.type));
  return [...top, ...old.filter((c) => !seen.has(c.type))];
}

export function conditionOf(o: Pick<Obj, "status"> | undefined, type: string): NormalCondition | undefined {
  return conditionsOf(o).find((c) => c.type === type);
}

/** How bad a condition is, for sorting and colouring: 0 fine, 1 progressing, 2 warning, 3 error. */
export function badness(c: NormalCondition | undefined, positive = true): number {
  if (!c) return 1;
  const good = positive ? c.status === "True" : c.status === "False";
  if (good) return 0;
  if (c.status === "Unknown") return 1;
  if (c.severity === "Info") return 1;
  if (c.severity === "Warning") return 2;
  if (c.severity === "Error") return 3;
  return /Failed|Error|Mismatch|Unreachable|NotFound|Invalid|Quarantined|Conflict/i.test(c.reason) ? 3 : 1;
}

/**
 * The status line of an object, as `clusterctl describe` prints it: Ready (v1beta1) or
 * Available/Ready (v1beta2), with reason, message and since.
 */
export function summaryOf(o: Obj): {
  status: NormalCondition["status"] | "";
  reason: string;
  message: string;
  since?: string;
  level: number;
} {
  const c = conditionOf(o, CapiConditionType.Available) ?? conditionOf(o, ConditionType.Ready);
  if (!c) return { status: "", reason: "", message: "", level: 1 };
  return {
    status: c.status,
    reason: c.reason,
    message: c.message,
    ...(c.since ? { since: c.since } : {}),
    level: badness(c),
  };
}
