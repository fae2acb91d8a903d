/**
 * Condition types and reasons capi-remote sets, as plain constants: no schema library and no I/O,
 * so the extension can import them (`@capi-remote/shared/conditions`) without pulling in TypeBox.
 *
 * Reasons are grouped per condition, as Cluster API groups them ("Machine's BootstrapConfigReady
 * condition and corresponding reasons"). A reason that explains more than one condition (e.g.
 * `HostUnreachable`, which can hold up bootstrap, cleanup or fact gathering) appears in each group
 * with the same value. `Reason` is the flat union of every group, for call sites that choose the
 * condition at run time.
 */

export const ConditionStatus = { True: "True", False: "False", Unknown: "Unknown" } as const;
export type ConditionStatus = (typeof ConditionStatus)[keyof typeof ConditionStatus];

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
  /**
   * A provisioned machine still answers: probed over SSH every health-check interval. False
   * (confirmed by a second probe) turns Ready False, which Cluster API mirrors into the Machine's
   * InfrastructureReady for a MachineHealthCheck to act on.
   */
  HostHealthy: "HostHealthy",
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

/** Why SSH work cannot start or failed to connect; shared by every condition that needs a host. */
const SSHReasons = {
  HostUnreachable: "HostUnreachable",
  HostKeyMismatch: "HostKeyMismatch",
  AuthenticationFailed: "AuthenticationFailed",
  InvalidSSHKey: "InvalidSSHKey",
  SSHKeySecretNotFound: "SSHKeySecretNotFound",
  HostKeySecretNotFound: "HostKeySecretNotFound",
  /** hostKeys / a known_hosts Secret / bastion.hostKeys break a limit or hold only what cannot be checked. */
  InvalidHostKeys: "InvalidHostKeys",
  /** No pinned key where one is required (a bastion, or any host under --require-pinned-host-keys). */
  HostKeyNotPinned: "HostKeyNotPinned",
  SudoRequiresPassword: "SudoRequiresPassword",
  SudoNotPermitted: "SudoNotPermitted",
  /** A connection field changed after the machine was provisioned or claimed: no SSH with it. */
  ConnectionChanged: "ConnectionChanged",
} as const;

/** Ready (the summary) and its reasons; the waits name what Cluster API has not supplied yet. */
export const ReadyReason = {
  Provisioned: "Provisioned",
  NotProvisioned: "NotProvisioned",
  Deleting: "Deleting",
  WaitingForMachineOwner: "WaitingForMachineOwner",
  /** The owning Machine's spec.infrastructureRef does not name this object: nothing is read or sent. */
  OwnerMachineMismatch: "OwnerMachineMismatch",
  WaitingForCluster: "WaitingForCluster",
  WaitingForClusterInfrastructure: "WaitingForClusterInfrastructure",
  WaitingForBootstrapData: "WaitingForBootstrapData",
  WaitingForPoolMachine: "WaitingForPoolMachine",
  /** Provisioned, but the host stopped answering (HostHealthy False). */
  HostNotResponding: "HostNotResponding",
  /** Provisioned, but another host key answers at the address (HostHealthy False). */
  HostKeyMismatch: "HostKeyMismatch",
} as const;

/** Paused and its reasons. */
export const PausedReason = { Paused: "Paused", NotPaused: "NotPaused" } as const;

/** HostReachable and its reasons. */
export const HostReachableReason = {
  Connected: "Connected",
  ...SSHReasons,
  /** The host already carries a finished run of another object: it is not bootstrapped twice. */
  MachineAlreadyBootstrapped: "MachineAlreadyBootstrapped",
} as const;

/** BootstrapExecSucceeded and its reasons. */
export const BootstrapExecReason = {
  BootstrapRunning: "BootstrapRunning",
  BootstrapSucceeded: "BootstrapSucceeded",
  BootstrapFailed: "BootstrapFailed",
  BootstrapTimedOut: "BootstrapTimedOut",
  BootstrapSentinelMissing: "BootstrapSentinelMissing",
  InvalidBootstrapData: "InvalidBootstrapData",
  UnsupportedBootstrapFormat: "UnsupportedBootstrapFormat",
  BootstrapSecretNotFound: "BootstrapSecretNotFound",
  /** A Secret the machine names exists, and the controller will not read it (security/secrets.ts). */
  SecretNotRead: "SecretNotRead",
  ProvisionJobRunning: "ProvisionJobRunning",
  ProvisionJobFailed: "ProvisionJobFailed",
  /** The provisionJob asks for a pod the controller will not make, or its Job or Secret name is taken. */
  ProvisionJobRefused: "ProvisionJobRefused",
  /** A read-only command on the host (state probe) exited non-zero. */
  ProbeFailed: "ProbeFailed",
  /** The host sent more output (or a longer line) than the controller keeps: the session was cut. */
  HostOutputTooLarge: "HostOutputTooLarge",
  ...SSHReasons,
} as const;

/**
 * HostHealthy (provisioned machines, probed over SSH) and its reasons. False only when the host is
 * gone or replaced; a probe that fails on our own credentials or configuration is Unknown with
 * the SSH reason (a bad Secret must not get machines remediated).
 */
export const HostHealthyReason = {
  HostResponding: "HostResponding",
  HostNotResponding: "HostNotResponding",
  /** (HostKeyMismatch, from SSHReasons: another host answers at the address.) */
  ...SSHReasons,
} as const;

/** PoolMachineClaimed (on a RemoteMachine) and its reasons. */
export const PoolMachineClaimedReason = {
  PoolMachineClaimed: "PoolMachineClaimed",
  WaitingForPoolMachine: "WaitingForPoolMachine",
  PoolMachineReturned: "PoolMachineReturned",
  PoolMachineQuarantined: "PoolMachineQuarantined",
} as const;

/** NodeProviderIDSet and its reasons. */
export const NodeProviderIDSetReason = {
  WaitingForNode: "WaitingForNode",
  NodeProviderIDSet: "NodeProviderIDSet",
  /** More than one Node matches the machine by name: none is given its provider ID. */
  NodeMatchAmbiguous: "NodeMatchAmbiguous",
  /** The matching Node already carries another provider ID: it is left alone. */
  NodeProviderIDConflict: "NodeProviderIDConflict",
  /** The `<cluster>-kubeconfig` Secret holds a field that would execute, read files or weaken TLS. */
  UnsafeKubeconfig: "UnsafeKubeconfig",
  /** The `<cluster>-kubeconfig` Secret is not a usable kubeconfig. */
  InvalidKubeconfig: "InvalidKubeconfig",
} as const;

/** CleanupSucceeded (on deletion, and a pool machine's release) and its reasons. */
export const CleanupReason = {
  CleanupRunning: "CleanupRunning",
  CleanupSucceeded: "CleanupSucceeded",
  CleanupFailed: "CleanupFailed",
  CleanupSkipped: "CleanupSkipped",
  ...SSHReasons,
} as const;

/** Pool machine: Claimed and its reasons. */
export const ClaimedReason = {
  Available: "Available",
  Claimed: "Claimed",
  ClaimantNotFound: "ClaimantNotFound",
  PoolMachineReturned: "PoolMachineReturned",
  WaitingForMachineDeletion: "WaitingForMachineDeletion",
  StaleClaimCleared: "StaleClaimCleared",
} as const;

/** Pool machine: Cordoned and its reasons. */
export const CordonedReason = { Cordoned: "Cordoned", NotCordoned: "NotCordoned" } as const;

/** Pool machine: Quarantined and its reasons (True carries the failed cleanup's reason). */
export const QuarantinedReason = {
  NotQuarantined: "NotQuarantined",
  PoolMachineQuarantined: "PoolMachineQuarantined",
  CleanupFailed: "CleanupFailed",
} as const;

/** Pool machine: FactsGathered and its reasons. */
export const FactsGatheredReason = {
  FactsGathered: "FactsGathered",
  FactsDisabled: "FactsDisabled",
  ...SSHReasons,
} as const;

/** Pool machine: Released (outcome of the last release request) and its reasons. */
export const ReleasedReason = {
  CleanupRunning: "CleanupRunning",
  ReleaseFailed: "ReleaseFailed",
  QuarantineLifted: "QuarantineLifted",
  StaleClaimCleared: "StaleClaimCleared",
  MachineRetired: "MachineRetired",
  NothingToRelease: "NothingToRelease",
} as const;

/** RemoteCluster: ControlPlaneEndpointSet and its reasons. */
export const ControlPlaneEndpointReason = {
  ControlPlaneEndpointSet: "ControlPlaneEndpointSet",
  ControlPlaneEndpointNotSet: "ControlPlaneEndpointNotSet",
} as const;

/** Every reason of every condition: the flat union, values CamelCase as metav1.Condition requires. */
export const Reason = {
  ...ReadyReason,
  ...PausedReason,
  ...HostReachableReason,
  ...BootstrapExecReason,
  ...HostHealthyReason,
  ...PoolMachineClaimedReason,
  ...NodeProviderIDSetReason,
  ...CleanupReason,
  ...ClaimedReason,
  ...CordonedReason,
  ...QuarantinedReason,
  ...FactsGatheredReason,
  ...ReleasedReason,
  ...ControlPlaneEndpointReason,
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];
