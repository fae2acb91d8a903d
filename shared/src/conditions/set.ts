/** The one condition setter everything uses (controller and extension alike). Pure. */
import { ConditionStatus } from "./constants.js";
import type { Condition } from "./schema.js";

/** What to set: everything but the timestamps, which `setCondition` manages. */
export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message?: string;
}

/** RFC 3339 to the second, the precision metav1.Time serialises. */
export const formatTime = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, "Z");

/**
 * Sets a condition on a list in place and returns the list. `lastTransitionTime` moves only when
 * the status flips; `observedGeneration` is stamped each time. Pure: `now` is passed in.
 */
export function setCondition(
  list: Condition[],
  input: ConditionInput,
  now: Date,
  observedGeneration?: number,
): Condition[] {
  const existing = list.find((c) => c.type === input.type);
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message ?? "",
    lastTransitionTime:
      existing && existing.status === input.status && existing.lastTransitionTime
        ? existing.lastTransitionTime
        : formatTime(now),
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
  };
  if (existing) list.splice(list.indexOf(existing), 1, next);
  else list.push(next);
  return list;
}

/** The condition of a type, if present. */
export function getCondition(list: readonly Condition[] | undefined, type: string): Condition | undefined {
  return list?.find((c) => c.type === type);
}

/** True when the condition is present and `True`. */
export function isConditionTrue(list: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(list, type)?.status === ConditionStatus.True;
}
