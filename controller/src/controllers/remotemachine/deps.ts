/**
 * What the RemoteMachine phases share: the controller's dependencies, the per-object memory it
 * keeps between passes, and the small actions every phase uses (set a condition, stop with a
 * Ready reason, patch the object's metadata).
 */
import { CAPI_GROUP, RemoteAnnotations, type RemoteMachineStatus, setCondition } from "@capi-remote/shared";
import { R } from "../../kube/api.js";
import type { Named, Secret } from "../../kube/objects.js";
import { FreshCache } from "../../runtime/fresh.js";
import type { PhaseResult } from "../../runtime/reconciler.js";
import type { StatusWriter } from "../../runtime/statuswriter.js";
import { readSshTarget } from "../../security/sshtarget.js";
import type { Ctx } from "../context.js";
import type { RM, Scope } from "./scope.js";
import type { WriteDeps } from "./writes.js";

/**
 * What the controller remembers between passes, per object key. None of it is a fact about the
 * machine (those are in spec and annotations and survive a restart or a move); it paces retries
 * and keeps work done in this process from being repeated while the cache catches up. What of
 * the pacing a restart must not reset (the retry record, the cleanup attempts) is also written
 * on the object when an attempt fails, and read back from there (retries.ts).
 */
export class Memory {
  /** Failed cleanup attempts (given up after CLEANUP_ATTEMPTS). */
  readonly cleanupAttempts = new Map<string, number>();
  /** Cleanups that succeeded, so that a retried finalizer removal does not clean up again. */
  readonly cleanedUp = new Set<string>();
  /**
   * After a failed attempt, no new attempt before `at` unless an input changed (the object's
   * spec or annotations, or a Secret it uses): our own status writes must not cause retries.
   */
  readonly retryGate = new Map<string, { at: number; inputs: string; reason: string; message: string }>();
  /** Status computed but not written yet (a deferred write): the next pass starts from it. */
  readonly pendingStatus = new Map<string, RemoteMachineStatus>();
  /**
   * Provider IDs handed to Nodes ("ns/cluster/node/uid"), so a lagging Node cache does not resend
   * them. By uid: a pool machine reused at once re-registers its Node under the same name and,
   * at the same address, needs the same provider ID again.
   */
  readonly nodeHandOffs = new Map<string, { providerID: string; at: number }>();
  /** Our own writes, until the informer cache shows them (see FreshCache). */
  readonly written = new FreshCache<RM>();

  /** The object is gone: nothing of it is kept. */
  forget(key: string): void {
    this.cleanupAttempts.delete(key);
    this.retryGate.delete(key);
    this.pendingStatus.delete(key);
    this.written.forget(key);
  }
}

export interface Deps {
  ctx: Ctx;
  mem: Memory;
  /** When status reaches the API server (runtime/statuswriter.ts). */
  writer: StatusWriter;
  /** What the start record and attach writes need (writes.ts). */
  writes: WriteDeps;
  /** How long "connecting" may last before it is written (the first step usually follows). */
  connectingHoldMs: number;
}

export const logOf = (d: Deps, s: Scope) => d.ctx.log.with({ remoteMachine: s.key });

/** The RemoteMachine as an Event's subject. */
export function targetOf(s: Scope) {
  return {
    apiVersion: s.rm.apiVersion,
    kind: "RemoteMachine",
    metadata: s.rm.metadata as Named["metadata"] & { uid?: string },
  };
}

/** Sets a condition; emits an Event when its status or reason changed and `event` is given. */
export function condition(
  d: Deps,
  s: Scope,
  type: string,
  status: "True" | "False" | "Unknown",
  reason: string,
  message = "",
  event?: "Normal" | "Warning",
): void {
  const prev = s.conditions.find((c) => c.type === type);
  s.set.add(type);
  setCondition(s.conditions, { type, status, reason, message }, d.ctx.now(), s.rm.metadata.generation);
  if (event && (prev?.status !== status || prev?.reason !== reason)) {
    void d.ctx.events.emit(targetOf(s), event, reason, message || reason);
  }
}

/** Not provisioned for this reason: Ready says it, and the phase list ends here. */
export function block(s: Scope, reason: string, message: string): PhaseResult {
  s.blocker = { reason, message };
  return { stop: true };
}

/** A JSON patch of the object's metadata; keeps the new resourceVersion and the pass's status. */
export async function jsonPatch(d: Deps, s: Scope, ops: unknown[]): Promise<void> {
  const res = await d.ctx.api.patch<RM>(R.remoteMachines, s.rm.metadata.namespace, s.rm.metadata.name, ops, "json");
  s.rm = { ...res, status: s.rm.status };
}

/** The Secret `name` of `ns`, with its data (read on demand: security/secrets.ts). */
export async function secretOf(d: Deps, ns: string, name: string | undefined): Promise<Secret | undefined> {
  return name ? d.ctx.secrets.get(ns, name) : undefined;
}

/** The owner reference to a Cluster API Machine. */
export function ownerRef(rm: RM): { name: string; uid?: string } | undefined {
  return (rm.metadata.ownerReferences ?? []).find(
    (o) => o.kind === "Machine" && o.apiVersion.startsWith(`${CAPI_GROUP}/`),
  );
}

/** The SSH target of the machine, or a reason it cannot be built. */
export function sshTarget(d: Deps, s: Scope) {
  return readSshTarget(
    d.ctx.secrets,
    s.rm.metadata.namespace ?? "",
    s.rm.spec,
    s.rm.metadata.annotations?.[RemoteAnnotations.HostKey],
  );
}
