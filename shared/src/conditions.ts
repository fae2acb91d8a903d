/**
 * Conditions: the schema both contracts read, the condition types and reasons capi-remote sets,
 * and the one setter everything uses (controller and extension alike).
 */
import { Enum, Int64, List, Obj, Optional, type Static, Str, Time } from "./schema/k8s.js";

export const ConditionStatus = { True: "True", False: "False", Unknown: "Unknown" } as const;
export type ConditionStatus = (typeof ConditionStatus)[keyof typeof ConditionStatus];

/**
 * A condition as stored in `status.conditions`: the `metav1.Condition` shape of the v1beta2
 * contract. `severity` is accepted so that a v1beta1-era writer's conditions are not pruned.
 */
export const ConditionSchema = Obj({
  type: Str({ minLength: 1, maxLength: 316 }),
  status: Enum(["True", "False", "Unknown"] as const),
  observedGeneration: Optional(Int64({ minimum: 0 })),
  lastTransitionTime: Optional(Time()),
  reason: Optional(Str({ maxLength: 1024 })),
  message: Optional(Str({ maxLength: 32768 })),
  severity: Optional(Enum(["Error", "Warning", "Info", ""] as const)),
});
export type Condition = Static<typeof ConditionSchema>;

export const ConditionList = List(ConditionSchema, {
  maxItems: 32,
  mapKeys: ["type"],
  description: "Conditions (metav1.Condition shape, the v1beta2 contract).",
});

/** Condition types capi-remote writes. `Ready` and `Paused` are Cluster API's. */
export const ConditionType = {
  Ready: "Ready",
  Paused: "Paused",
  /** k0smotron's name, kept so dashboards built for it keep working. */
  BootstrapExecSucceeded: "BootstrapExecSucceeded",
  /** The machine answered over SSH with the expected host key and accepted our credentials. */
  HostReachable: "HostReachable",
  /** A pool machine was claimed for this RemoteMachine. */
  PoolMachineClaimed: "PoolMachineClaimed",
  /** The Node in the workload cluster carries our provider ID. */
  NodeProviderIDSet: "NodeProviderIDSet",
  /** Cleanup on deletion. */
  CleanupSucceeded: "CleanupSucceeded",
  /** Pool machine: held by a RemoteMachine. */
  Claimed: "Claimed",
  /** Pool machine: out of service by request (spec.cordoned). */
  Cordoned: "Cordoned",
  /** Pool machine: its cleanup failed; never handed out until released. */
  Quarantined: "Quarantined",
  /** Pool machine: hostname, OS, CPUs and memory were read over SSH. */
  FactsGathered: "FactsGathered",
  /** Pool machine: outcome of the last release request. */
  Released: "Released",
  /** RemoteCluster: the control plane endpoint is known. */
  ControlPlaneEndpointSet: "ControlPlaneEndpointSet",
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

/** Reasons, grouped by what they explain. Values are CamelCase as metav1.Condition requires. */
export const Reason = {
  // Ready / summary
  Provisioned: "Provisioned",
  NotProvisioned: "NotProvisioned",
  Deleting: "Deleting",
  // Paused
  Paused: "Paused",
  NotPaused: "NotPaused",
  // Waiting for Cluster API
  WaitingForMachineOwner: "WaitingForMachineOwner",
  /** The owning Machine's spec.infrastructureRef does not name this object: nothing is read or sent. */
  OwnerMachineMismatch: "OwnerMachineMismatch",
  WaitingForCluster: "WaitingForCluster",
  WaitingForClusterInfrastructure: "WaitingForClusterInfrastructure",
  WaitingForBootstrapData: "WaitingForBootstrapData",
  // Pools
  WaitingForPoolMachine: "WaitingForPoolMachine",
  PoolMachineClaimed: "PoolMachineClaimed",
  PoolMachineReturned: "PoolMachineReturned",
  WaitingForMachineDeletion: "WaitingForMachineDeletion",
  PoolMachineQuarantined: "PoolMachineQuarantined",
  Available: "Available",
  Claimed: "Claimed",
  ClaimantNotFound: "ClaimantNotFound",
  Cordoned: "Cordoned",
  NotCordoned: "NotCordoned",
  NotQuarantined: "NotQuarantined",
  FactsGathered: "FactsGathered",
  FactsDisabled: "FactsDisabled",
  StaleClaimCleared: "StaleClaimCleared",
  QuarantineLifted: "QuarantineLifted",
  ReleaseFailed: "ReleaseFailed",
  MachineRetired: "MachineRetired",
  NothingToRelease: "NothingToRelease",
  // SSH
  Connected: "Connected",
  HostUnreachable: "HostUnreachable",
  HostKeyMismatch: "HostKeyMismatch",
  AuthenticationFailed: "AuthenticationFailed",
  InvalidSSHKey: "InvalidSSHKey",
  SSHKeySecretNotFound: "SSHKeySecretNotFound",
  SudoRequiresPassword: "SudoRequiresPassword",
  SudoNotPermitted: "SudoNotPermitted",
  HostKeySecretNotFound: "HostKeySecretNotFound",
  MachineAlreadyBootstrapped: "MachineAlreadyBootstrapped",
  // Bootstrap
  BootstrapRunning: "BootstrapRunning",
  BootstrapSucceeded: "BootstrapSucceeded",
  BootstrapFailed: "BootstrapFailed",
  BootstrapTimedOut: "BootstrapTimedOut",
  BootstrapSentinelMissing: "BootstrapSentinelMissing",
  InvalidBootstrapData: "InvalidBootstrapData",
  UnsupportedBootstrapFormat: "UnsupportedBootstrapFormat",
  BootstrapSecretNotFound: "BootstrapSecretNotFound",
  ProvisionJobRunning: "ProvisionJobRunning",
  ProvisionJobFailed: "ProvisionJobFailed",
  // Node
  WaitingForNode: "WaitingForNode",
  NodeProviderIDSet: "NodeProviderIDSet",
  /** More than one Node matches the machine by name: none is given its provider ID. */
  NodeMatchAmbiguous: "NodeMatchAmbiguous",
  /** The `<cluster>-kubeconfig` Secret holds a field that would execute, read files or weaken TLS. */
  UnsafeKubeconfig: "UnsafeKubeconfig",
  /** The `<cluster>-kubeconfig` Secret is not a usable kubeconfig. */
  InvalidKubeconfig: "InvalidKubeconfig",
  /** A connection field changed after the machine was provisioned or claimed: no SSH with it. */
  ConnectionChanged: "ConnectionChanged",
  // Cleanup
  CleanupRunning: "CleanupRunning",
  CleanupSucceeded: "CleanupSucceeded",
  CleanupFailed: "CleanupFailed",
  CleanupSkipped: "CleanupSkipped",
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/** What to set: everything but the timestamps, which `setCondition` manages. */
export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message?: string;
}

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
        : now.toISOString().replace(/\.\d{3}Z$/, "Z"),
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
