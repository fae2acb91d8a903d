/**
 * The pool machine a deleted RemoteMachine held: back to the pool when its cleanup succeeded
 * (or nothing ran), quarantined with a record when it did not. Cleaned machines return only once
 * Cluster API has deleted the Machine (it deletes the Machine's Node by name after we are gone; a
 * new claimant's Node of the same name must not be registered before that).
 */
import { formatTime, type PooledRemoteMachine, Reason, referenceOf } from "@capi-remote/shared";
import type { Named } from "../../../kube/objects.js";
import { type CleanupKind, cleanupKindOf } from "../../../security/quarantine.js";
import { type Deps, targetOf } from "../deps.js";
import type { Release, Scope } from "../scope.js";

type PRM = PooledRemoteMachine & Named;

/** Which cleanup the machine's bootstrap provider calls for (kubeadm, k0s, ...). */
export const cleanupKind = (s: Scope): CleanupKind =>
  cleanupKindOf(referenceOf(s.machine?.spec.bootstrap?.configRef)?.kind);

export async function settlePool(d: Deps, s: Scope, failed: Release["failed"]): Promise<void> {
  if (!s.rm.spec.pool) return;
  const prm = d.ctx.pools.heldBy(s.rm);
  if (!prm) return;
  const record = failed
    ? {
        reason: failed.reason,
        message: failed.message,
        since: formatTime(d.ctx.now()),
        remoteMachine: s.rm.metadata.name,
        cleanup: cleanupKind(s),
      }
    : undefined;
  const owner = s.rm.metadata.ownerReferences?.find((o) => o.kind === "Machine");
  const returningAfter = !record && owner ? { name: owner.name, uid: owner.uid } : undefined;
  if (!(await d.ctx.pools.release(prm, s.rm, record ? { quarantine: record } : { returningAfter }))) return;
  if (record) {
    const msg = `quarantined after RemoteMachine ${s.rm.metadata.name}: ${record.message}; fix the machine, then release it`;
    void d.ctx.events.emit(poolTarget(prm), "Warning", Reason.PoolMachineQuarantined, msg);
    void d.ctx.events.emit(
      targetOf(s),
      "Warning",
      Reason.PoolMachineQuarantined,
      `pool machine ${prm.metadata.name} ${msg}`,
    );
    return;
  }
  const back = prm.spec.cordoned
    ? "cordoned, so kept out of the pool"
    : returningAfter
      ? `back in the pool once Machine ${returningAfter.name} is deleted`
      : "back in the pool";
  void d.ctx.events.emit(
    poolTarget(prm),
    "Normal",
    Reason.PoolMachineReturned,
    `freed by RemoteMachine ${s.rm.metadata.name}: ${back}`,
  );
}

const poolTarget = (prm: PRM) => ({
  apiVersion: prm.apiVersion ?? "infrastructure.cluster.x-k8s.io/v1beta2",
  kind: "PooledRemoteMachine",
  metadata: prm.metadata as Named["metadata"] & { uid?: string },
});
