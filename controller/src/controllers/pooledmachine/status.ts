/**
 * PooledRemoteMachine status as pure functions of what was observed: the fields a person reads
 * next to the phase, and which Claimed / Cordoned / Quarantined conditions to set. No API, no
 * clock, no SSH. Table-tested in status.test.ts.
 */
import {
  type Condition,
  ConditionType,
  fitToSchema,
  type PooledRemoteMachine,
  type PooledRemoteMachineStatus,
  PooledRemoteMachineStatusSchema,
  type PoolPhase,
  quarantineOf,
  Reason,
  RemoteAnnotations,
} from "@capi-remote/shared";

type Meta = { name: string; namespace?: string; generation?: number; annotations?: Record<string, string> };
type P = Pick<PooledRemoteMachine, "spec"> & { metadata: Meta };

/** A condition to set, with the Event its change deserves. */
export interface ConditionChange {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  event?: "Normal" | "Warning";
}

/** The status fields of the claim and cordon (phase computed by poolPhaseOf). */
export function setPoolFields(
  status: PooledRemoteMachineStatus,
  prm: P,
  phase: PoolPhase,
  who: string | undefined,
): void {
  status.phase = phase;
  status.reserved = !!who;
  if (who) status.machineRef = { name: who, namespace: prm.metadata.namespace ?? "" };
  else delete status.machineRef;
  status.cordoned = prm.spec.cordoned ?? false;
  status.observedGeneration = prm.metadata.generation;
}

/** Claimed, Cordoned and Quarantined, in that order, from the claim, the spec and the record. */
export function poolConditions(o: {
  prm: P;
  who: string | undefined;
  held: boolean;
  phase: PoolPhase;
  returning?: { machine: string } | undefined;
  conditions: readonly Condition[];
}): ConditionChange[] {
  const out: ConditionChange[] = [];
  const { who, prm } = o;
  const set = (c: ConditionChange) => out.push(c);
  if (!who && o.returning)
    set({
      type: ConditionType.Claimed,
      status: "False",
      reason: Reason.WaitingForMachineDeletion,
      message: `cleaned; returns to the pool once Cluster API has deleted Machine ${o.returning.machine} (and its Node)`,
    });
  else if (!who) set({ type: ConditionType.Claimed, status: "False", reason: Reason.Available, message: "" });
  else if (!o.held)
    set({
      type: ConditionType.Claimed,
      status: "True",
      reason: Reason.ClaimantNotFound,
      message: `RemoteMachine ${who} no longer exists; release this machine to return it to the pool`,
      event: "Warning",
    });
  else
    set({
      type: ConditionType.Claimed,
      status: "True",
      reason: Reason.Claimed,
      message: `RemoteMachine ${who} (${o.phase})`,
    });
  if (prm.spec.cordoned)
    set({
      type: ConditionType.Cordoned,
      status: "True",
      reason: Reason.Cordoned,
      message: who ? "stays in use until freed, then stays out of the pool" : "never handed out",
      event: "Normal",
    });
  else {
    const was = o.conditions.some((c) => c.type === ConditionType.Cordoned && c.status === "True");
    set({
      type: ConditionType.Cordoned,
      status: "False",
      reason: Reason.NotCordoned,
      message: "",
      ...(was ? { event: "Normal" as const } : {}),
    });
  }
  const q = quarantineOf(prm.metadata.annotations);
  if (q)
    set({
      type: ConditionType.Quarantined,
      status: "True",
      reason: q.reason,
      message: `${q.message}; fix the machine, then release it`,
      event: "Warning",
    });
  else set({ type: ConditionType.Quarantined, status: "False", reason: Reason.NotQuarantined, message: "" });
  return out;
}

/** The host key the machine was reached with, and how it was checked (none when unchecked). */
export function setHostKey(status: PooledRemoteMachineStatus, prm: P, fingerprint: (key: string) => string): void {
  const hostKey = prm.metadata.annotations?.[RemoteAnnotations.HostKey];
  if (!hostKey || prm.spec.machine.insecureSkipHostKeyVerification) return;
  status.hostKey = {
    fingerprint: fingerprint(hostKey),
    source: prm.spec.machine.hostKeys || prm.spec.machine.hostKeysSecretRef ? "Pinned" : "FirstUse",
  };
}

/**
 * The status to write: the conditions in, fitted to the schema (a host's 400-character OS name
 * must not make the write fail forever).
 */
export function finalPoolStatus(status: PooledRemoteMachineStatus, conditions: Condition[]): PooledRemoteMachineStatus {
  status.conditions = conditions;
  return fitToSchema(status, PooledRemoteMachineStatusSchema);
}
