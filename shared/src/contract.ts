/**
 * The contract between capi-remote's objects that lives in metadata and a few status fields:
 * annotation keys, the quarantine record, and "provisioned" under either Cluster API contract.
 * Free of schema code, so the Lens extension bundles it without TypeBox.
 */

/** Annotations capi-remote keeps on RemoteMachines: durable state that survives `clusterctl move`. */
export const RemoteAnnotations = {
  /** The host key seen on first connection, "type base64"; enforced afterwards. */
  HostKey: "remote.infrastructure.cluster.x-k8s.io/host-key",
  /** Set before a bootstrap is started on the machine: it is never started again. */
  BootstrapStarted: "remote.infrastructure.cluster.x-k8s.io/bootstrap-started",
  /**
   * The machine's hostname as it reported it after its bootstrap; written together with
   * spec.providerID, so the Node can be found even when status was lost (a controller killed
   * between the two writes, or `clusterctl move`).
   */
  Hostname: "remote.infrastructure.cluster.x-k8s.io/hostname",
  /** On a RemoteMachine: the PooledRemoteMachine it claimed (its connection fields are copied). */
  PoolMachine: "remote.infrastructure.cluster.x-k8s.io/pool-machine",
  /**
   * JSON {attempts, notBefore, inputs}: the bootstrap failed `attempts` times in a row (not
   * terminally) and is not tried again before `notBefore` (RFC 3339) unless one of its inputs
   * changed (`inputs` is their digest). Pacing kept on the object, so a controller restart
   * continues the backoff instead of starting it over; removed with the success.
   */
  BootstrapRetry: "remote.infrastructure.cluster.x-k8s.io/bootstrap-retry",
  /**
   * JSON {attempts, notBefore}: failed cleanup attempts of a deleted RemoteMachine and when the
   * next may start, so a restart does not grant a fresh set of attempts.
   */
  CleanupAttempts: "remote.infrastructure.cluster.x-k8s.io/cleanup-attempts",
} as const;

/**
 * Annotations on PooledRemoteMachines. The claim lives here, in metadata, so that it survives
 * `clusterctl move` (which drops status) and is written with a compare-and-swap on the object
 * (see docs/pools.md).
 */
export const PoolAnnotations = {
  /** Name of the RemoteMachine (same namespace) holding the machine. */
  ClaimedBy: "remote.infrastructure.cluster.x-k8s.io/claimed-by",
  /** UID of that RemoteMachine when it claimed (a move changes UIDs; see docs/pools.md). */
  ClaimedByUID: "remote.infrastructure.cluster.x-k8s.io/claimed-by-uid",
  /** JSON {reason, message, since, commands, stateDir, remoteMachine}: cleanup failed; never handed out. */
  Quarantined: "remote.infrastructure.cluster.x-k8s.io/quarantined",
  /** A request (any value, e.g. a timestamp) that the controller carries out and removes. */
  Release: "remote.infrastructure.cluster.x-k8s.io/release",
  /**
   * "<Machine name>/<Machine UID>": the machine was cleaned after that Machine's RemoteMachine
   * went, and returns to the pool only once the Machine object is gone too. Cluster API deletes
   * a Machine's Node (by name) after its infrastructure is gone; a new claimant's bootstrap
   * registering the same hostname earlier would lose its Node to that deletion.
   */
  ReturningAfter: "remote.infrastructure.cluster.x-k8s.io/returning-after",
} as const;

/** Reads the returning-after annotation: the Machine whose deletion the machine waits for. */
export function returningAfterOf(
  annotations: Record<string, string> | undefined,
): { machine: string; uid?: string } | undefined {
  const v = annotations?.[PoolAnnotations.ReturningAfter];
  if (!v) return undefined;
  const [machine, uid] = v.split("/", 2) as [string, string | undefined];
  return uid ? { machine, uid } : { machine };
}

/** What the quarantine annotation holds. */
export interface QuarantineRecord {
  reason: string;
  message: string;
  since: string;
  remoteMachine?: string;
  /**
   * How the node is undone on release: a cleanup kind from the controller's own table
   * ("kubeadm", "k0s", "k0s-controller", "other"). Never commands or paths: the annotation is
   * writable by anyone who may patch the pool machine.
   */
  cleanup?: string;
  /** Written by older versions; ignored (never executed). */
  stateDir?: string;
  /** Written by older versions; ignored (never executed). */
  commands?: string[];
}

/** Reads the quarantine annotation; a value that is not our JSON still quarantines. */
export function quarantineOf(annotations: Record<string, string> | undefined): QuarantineRecord | undefined {
  const v = annotations?.[PoolAnnotations.Quarantined];
  if (v === undefined) return undefined;
  try {
    const r = JSON.parse(v) as Partial<QuarantineRecord>;
    if (r && typeof r === "object") {
      return { reason: r.reason ?? "Quarantined", message: r.message ?? "", since: r.since ?? "", ...r };
    }
  } catch {}
  return { reason: "Quarantined", message: v, since: "" };
}

/** The finalizer on RemoteMachines: cleanup runs before the object goes. */
export const REMOTE_MACHINE_FINALIZER = "remotemachine.infrastructure.cluster.x-k8s.io";

/** Provisioned under either contract. */
export function isProvisioned(status: { ready?: boolean; initialization?: { provisioned?: boolean } } | undefined) {
  return status?.initialization?.provisioned ?? status?.ready ?? false;
}
