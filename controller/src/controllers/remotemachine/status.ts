/**
 * RemoteMachine status decisions that are pure functions of what was observed: no API, no clock
 * (times come in as arguments), no SSH. Like Cluster API's setters they change only the
 * in-memory status they are given. Table-tested in status.test.ts.
 */
import {
  type Condition,
  ConditionStatus,
  ConditionType,
  fitToSchema,
  formatTime,
  Reason,
  type RemoteMachineStatus,
  RemoteMachineStatusSchema,
  setCondition,
} from "@capi-remote/shared";
import type { Blocker } from "./scope.js";

const get = (c: readonly Condition[] | undefined, type: string) => c?.find((x) => x.type === type);

/**
 * Whether a computed status must reach the API server now rather than with the next progress
 * write (runtime/statuswriter.ts): what a user or Cluster API acts on. `before` is the status
 * the object carries, `after` the one this pass computed.
 */
export function statusUrgent(
  before: RemoteMachineStatus | undefined,
  after: RemoteMachineStatus,
  deleting: boolean,
): boolean {
  if (!before || deleting) return true;
  const flipped = (type: string) => get(before.conditions, type)?.status !== get(after.conditions, type)?.status;
  const hostFalse = (s: RemoteMachineStatus) =>
    get(s.conditions, ConditionType.HostReachable)?.status === ConditionStatus.False;
  return (
    flipped(ConditionType.Ready) ||
    // A connection problem (or its end) is news for whoever is waiting; the first successful
    // connection is not (it would make every bootstrap's start an urgent write).
    (flipped(ConditionType.HostReachable) && (hostFalse(before) || hostFalse(after))) ||
    // A provisioned host going away or coming back (rare, and what remediation waits for).
    flipped(ConditionType.HostHealthy) ||
    before.initialization?.provisioned !== after.initialization?.provisioned ||
    (after.bootstrap?.phase === "Failed" && before.bootstrap?.phase !== "Failed")
  );
}

/**
 * The status a pass ends with: Ready from what it observed (provisioned, else the blocker, else
 * "not provisioned" when nothing said otherwise), every condition set in the pass stamped with
 * the final generation (a pass may change the spec, e.g. a pool machine's fields copied in),
 * `ready: false` until provisioned, and fitted to the schema (host output or a long path in a
 * message must not make the write fail with 422 on every pass).
 */
export function finalStatus(
  status: RemoteMachineStatus,
  conditions: Condition[],
  o: { blocker?: Blocker; set: Set<string>; generation?: number; now: Date },
): RemoteMachineStatus {
  const ready = (st: "True" | "False", reason: string, message = "") => {
    o.set.add(ConditionType.Ready);
    setCondition(conditions, { type: ConditionType.Ready, status: st, reason, message }, o.now, o.generation);
  };
  const health = get(conditions, ConditionType.HostHealthy);
  // Provisioned but its host confirmed down (phases/health.ts): Ready False with the health
  // reason, which Cluster API mirrors into the Machine's InfrastructureReady for a
  // MachineHealthCheck; `initialization.provisioned` stays true.
  if (status.initialization?.provisioned === true && health?.status === ConditionStatus.False)
    ready(
      "False",
      health.reason ?? Reason.HostNotResponding,
      `provisioned, but ${health.message ?? "the host does not answer"}`,
    );
  else if (status.initialization?.provisioned === true) ready("True", Reason.Provisioned);
  else if (o.blocker) ready("False", o.blocker.reason, o.blocker.message);
  else if (!conditions.some((c) => c.type === ConditionType.Ready)) ready("False", Reason.NotProvisioned);
  if (o.generation !== undefined)
    for (const c of conditions) if (o.set.has(c.type)) c.observedGeneration = o.generation;
  status.conditions = conditions;
  if (get(conditions, ConditionType.Ready)?.reason !== Reason.Provisioned) status.ready = status.ready ?? false;
  return fitToSchema(status, RemoteMachineStatusSchema);
}

/** Provisioned: ready, its addresses (the hostname found now, else the one known before). */
export function setProvisioned(
  status: RemoteMachineStatus,
  address: string,
  hostname: string | undefined,
  recordedHostname: string | undefined,
): void {
  const host = hostname ?? status.addresses?.find((a) => a.type === "Hostname")?.address ?? recordedHostname;
  status.ready = true;
  status.initialization = { provisioned: true };
  status.addresses = [{ type: "ExternalIP", address }, ...(host ? [{ type: "Hostname" as const, address: host }] : [])];
  delete status.failureReason;
  delete status.failureMessage;
  // A failure recorded before no longer holds: k0smotron keeps its ProvisionFailed here, on a
  // machine capi-remote then bootstraps (docs/migration.md). A new object, not an edit: the
  // nested one may be the cached status this one is diffed against.
  const v1 = status.deprecated?.v1beta1;
  if (v1 && (v1.failureReason !== undefined || v1.failureMessage !== undefined)) {
    const { failureReason: _r, failureMessage: _m, ...rest } = v1;
    if (Object.keys(rest).length) status.deprecated = { v1beta1: rest };
    else delete status.deprecated;
  }
}

/** The bootstrap ran to the end (`steps` when known: the last step is the one reached). */
export function setBootstrapSucceeded(status: RemoteMachineStatus, finishedAt: Date, steps?: number): void {
  status.bootstrap = {
    ...(status.bootstrap ?? {}),
    phase: "Succeeded",
    finishedAt: formatTime(finishedAt),
    exitCode: 0,
    ...(steps !== undefined ? { step: steps, steps } : {}),
  };
}

/** A failure that is never retried: the phase, the time, and the v1beta1 failure fields. */
export function setBootstrapFailed(
  status: RemoteMachineStatus,
  reason: string,
  message: string,
  finishedAt: Date,
  exitCode?: number,
): void {
  status.bootstrap = {
    ...(status.bootstrap ?? {}),
    phase: "Failed",
    finishedAt: formatTime(finishedAt),
    ...(exitCode !== undefined ? { exitCode } : {}),
  };
  status.failureReason = reason;
  status.failureMessage = message;
  status.deprecated = { v1beta1: { failureReason: reason, failureMessage: message } };
}

/** A running bootstrap: its start and, once one runs, its step. */
export function setBootstrapRunning(
  status: RemoteMachineStatus,
  task: { startedAt?: Date; step?: number; steps?: number; stepName?: string },
): void {
  status.bootstrap = {
    ...(status.bootstrap ?? {}),
    phase: "Running",
    ...(task.startedAt ? { startedAt: formatTime(task.startedAt) } : {}),
    ...(task.step ? { step: task.step, steps: task.steps, stepName: task.stepName } : {}),
  };
}

/** Where the host key the bootstrap connected with was checked against. */
export function hostKeySource(spec: {
  insecureSkipHostKeyVerification?: boolean;
  hostKeys?: unknown;
  hostKeysSecretRef?: unknown;
}): "Unchecked" | "Pinned" | "FirstUse" {
  if (spec.insecureSkipHostKeyVerification) return "Unchecked";
  return spec.hostKeys || spec.hostKeysSecretRef ? "Pinned" : "FirstUse";
}

/** What Ready says of a running task: its step, or "connecting" before the first one. */
export function progressOf(task: { step?: number; steps?: number; stepName?: string }): string {
  return task.step ? `step ${task.step} of ${task.steps}: ${task.stepName}` : "connecting";
}
