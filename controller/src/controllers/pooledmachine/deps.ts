/** What the pool machine phases share: dependencies, memory, and setting a condition. */
import { API_VERSION, setCondition } from "@capi-remote/shared";
import type { Named } from "../../kube/objects.js";
import type { Ctx } from "../context.js";
import type { Memory, PRM, Scope } from "./scope.js";

export interface Deps {
  ctx: Ctx;
  mem: Memory;
  /** The pool machine queue (facts retries back off on it). */
  queue: {
    add(key: string): void;
    addRateLimited(key: string, cap?: number): number;
    forget(key: string): void;
  };
}

export type CondStatus = "True" | "False" | "Unknown";

/** Task keys of pool machines are prefixed so that task notifications reach this queue. */
export const taskKey = (key: string, what: "facts" | "release") => `prm:${what}:${key}`;

export function targetOf(prm: PRM) {
  return {
    apiVersion: prm.apiVersion ?? API_VERSION,
    kind: "PooledRemoteMachine",
    metadata: prm.metadata as Named["metadata"] & { uid?: string },
  };
}

/** Sets a condition of the pool machine; emits an Event on a change when `event` is given. */
export function condition(
  d: Deps,
  s: Scope,
  type: string,
  st: CondStatus,
  reason: string,
  message = "",
  event?: "Normal" | "Warning",
): void {
  const prev = s.conditions.find((c) => c.type === type);
  setCondition(s.conditions, { type, status: st, reason, message }, d.ctx.now(), s.prm.metadata.generation);
  if (event && (prev?.status !== st || prev?.reason !== reason))
    void d.ctx.events.emit(targetOf(s.prm), event, reason, message || reason);
}
