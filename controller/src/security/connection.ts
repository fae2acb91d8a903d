/**
 * Whether a provisioned machine's connection still names the host that was provisioned. The
 * admission policy locks the connection fields once a RemoteMachine is claimed, started or
 * provisioned; this is the controller's own check for clusters without it (or objects edited
 * before it was installed): the provider ID (immutable once set) records the address and port
 * the bootstrap ran on, and a pool machine's claimant must still match the pool machine it holds.
 * A cleanup (root commands) never goes to another host than the one provisioned.
 */
import { DEFAULT_SSH_PORT, formatProviderID } from "@capi-remote/shared";

interface Conn {
  address?: string | undefined;
  port?: number | undefined;
  providerID?: string | undefined;
}

/** Undefined when the connection is the provisioned one; else a message naming the fields. */
export function connectionChanged(spec: Conn, pool?: { name: string; machine: Conn }): string | undefined {
  const port = spec.port ?? DEFAULT_SSH_PORT;
  // Only our own provider IDs record the connection (an object adopted from elsewhere may differ).
  if (spec.providerID?.startsWith("remote-machine://")) {
    const now = formatProviderID(spec.address ?? "", port);
    if (now !== spec.providerID)
      return `spec.address and spec.port (${spec.address ?? ""}:${port}) no longer match spec.providerID ${spec.providerID}, the host that was provisioned`;
  }
  if (pool && (pool.machine.address !== spec.address || (pool.machine.port ?? DEFAULT_SSH_PORT) !== port))
    return `spec.address and spec.port (${spec.address ?? ""}:${port}) differ from pool machine ${pool.name} (${pool.machine.address ?? ""}:${pool.machine.port ?? DEFAULT_SSH_PORT}), the host that was claimed`;
  return undefined;
}
