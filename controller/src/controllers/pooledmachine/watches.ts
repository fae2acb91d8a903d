/** What wakes a pool machine, answered from informer indexes. */
import { type Machine, type PooledRemoteMachine, returningAfterOf } from "@capi-remote/shared";
import type { Named, Secret } from "../../reconcile/context.js";
import { keyOf } from "../../runtime/informer.js";
import type { Indexed } from "../../runtime/store.js";

type PRM = PooledRemoteMachine & Named;

export const PoolIndex = {
  /** Pool machine -> the Secrets it reads. */
  secret: "secret",
  /** Pool machine -> the Machine whose deletion it waits for before it returns to the pool. */
  returningAfter: "returningAfter",
} as const;

const at = (ns: string | undefined, name: string) => `${ns ?? ""}/${name}`;

/** Adds the indexes these mappers read. Call once, before the informer starts. */
export function addPoolMachineIndexes(prms: Indexed<PRM>): void {
  prms
    .addIndex(PoolIndex.secret, (p) =>
      [p.spec.machine.sshKeyRef.name, p.spec.machine.hostKeysSecretRef?.name, p.spec.machine.bastion?.sshKeyRef.name]
        .filter((n): n is string => !!n)
        .map((n) => at(p.metadata.namespace, n)),
    )
    .addIndex(PoolIndex.returningAfter, (p) => {
      const after = returningAfterOf(p.metadata.annotations)?.machine;
      return after ? [at(p.metadata.namespace, after)] : [];
    });
}

/** A Secret changed: the pool machines that read it. */
export function secretToPoolMachines(prms: Indexed<PRM>, s: Secret): string[] {
  return prms.byIndex(PoolIndex.secret, keyOf(s)).map(keyOf);
}

/** A Machine was deleted: the pool machines cleaned after its RemoteMachine may return now. */
export function machineToReturningPoolMachines(prms: Indexed<PRM>, m: Machine & Named): string[] {
  return prms.byIndex(PoolIndex.returningAfter, keyOf(m)).map(keyOf);
}
