/** What wakes a pool machine, answered from informer indexes. */
import { type Machine, PoolAnnotations, type PooledRemoteMachine, returningAfterOf } from "@capi-remote/shared";
import type { Named } from "../../kube/objects.js";
import { keyOf } from "../../runtime/informer.js";
import type { Indexed } from "../../runtime/store.js";
import { connectionSecretNames } from "../../security/sshtarget.js";

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
    .addIndex(PoolIndex.secret, (p) => connectionSecretNames(p.spec.machine).map((n) => at(p.metadata.namespace, n)))
    .addIndex(PoolIndex.returningAfter, (p) => {
      const after = returningAfterOf(p.metadata.annotations)?.machine;
      return after ? [at(p.metadata.namespace, after)] : [];
    });
}

/** A Secret changed: the pool machines that read it. */
export function secretToPoolMachines(prms: Indexed<PRM>, s: Named): string[] {
  return prms.byIndex(PoolIndex.secret, keyOf(s)).map(keyOf);
}

/** A Machine was deleted: the pool machines cleaned after its RemoteMachine may return now. */
export function machineToReturningPoolMachines(prms: Indexed<PRM>, m: Machine & Named): string[] {
  return prms.byIndex(PoolIndex.returningAfter, keyOf(m)).map(keyOf);
}

/**
 * True when a pool machine changed only in what its status mirrors: its claim annotations (our
 * own compare-and-swap) or its status (our own write). Such a change needs no action, only a
 * status brought up to date, which may wait for more urgent work.
 */
export function mirrorsOnly(now: PRM, old: PRM): boolean {
  const m = now.metadata;
  const o = old.metadata;
  if (m.generation !== o.generation || m.deletionTimestamp !== o.deletionTimestamp) return false;
  if (JSON.stringify(m.labels ?? {}) !== JSON.stringify(o.labels ?? {})) return false;
  if (JSON.stringify(m.finalizers ?? []) !== JSON.stringify(o.finalizers ?? [])) return false;
  const rest = (a: Record<string, string> | undefined) => {
    const { [PoolAnnotations.ClaimedBy]: _by, [PoolAnnotations.ClaimedByUID]: _uid, ...others } = a ?? {};
    return JSON.stringify(Object.entries(others).sort(([x], [y]) => (x < y ? -1 : 1)));
  };
  return rest(m.annotations) === rest(o.annotations);
}
