/**
 * What a release of a quarantined pool machine runs. The quarantine record is an annotation, and
 * annotations are writable by anyone with `patch pooledremotemachines` (the permission Lens's
 * Cordon/Release needs), so nothing in it is ever executed or used as a path: the commands come
 * from the pool machine's spec (locked by the admission policy while claimed) or from a fixed
 * table chosen by the bootstrap provider's kind, and the state directory is recomputed from a
 * RemoteMachine name that must be a valid object name.
 */
import { cleanUpCommandsOf, type QuarantineRecord } from "@capi-remote/shared";
import { cleanupCommands } from "../cleanup/sequence.js";
import { STATE_ROOT, stateDirFor } from "../host/protocol.js";

/** Cleanup kinds: the bootstrap provider decides how a node is undone. */
export const CLEANUP_KINDS = ["kubeadm", "k0s", "k0s-controller", "other"] as const;
export type CleanupKind = (typeof CLEANUP_KINDS)[number];

/** The cleanup kind of a bootstrap config kind (KubeadmConfig, K0sWorkerConfig, ...). */
export function cleanupKindOf(bootstrapConfigKind: string | undefined): CleanupKind {
  const k = bootstrapConfigKind ?? "";
  if (k === "K0sControllerConfig") return "k0s-controller";
  if (k.startsWith("K0s")) return "k0s";
  if (k === "KubeadmConfig") return "kubeadm";
  return "other";
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * The commands and state directory a release of a quarantined machine uses: never the record's
 * own `commands` or `stateDir` (old records carried them; they are ignored).
 */
export function releaseCleanup(
  namespace: string,
  machine: Parameters<typeof cleanUpCommandsOf>[0],
  q: QuarantineRecord,
): { commands: string[]; stateDir: string } {
  const kind = (CLEANUP_KINDS as readonly string[]).includes(q.cleanup ?? "") ? (q.cleanup as CleanupKind) : "other";
  const custom = cleanUpCommandsOf(machine);
  // The bootstrap data is long gone by a release: the k0s sequence without its facts.
  const commands = cleanupCommands({ kind, ...(custom ? { custom } : {}) });
  const rm = q.remoteMachine;
  const stateDir =
    rm && DNS_SUBDOMAIN.test(rm) && DNS_SUBDOMAIN.test(namespace)
      ? stateDirFor(namespace, rm)
      : `${STATE_ROOT}/released`;
  return { commands, stateDir };
}
