/**
 * Taking over objects k0smotron's remote-machine controller left behind (docs/migration.md).
 * Pure: each function reads an object as k0smotron wrote it and says what capi-remote makes of
 * it, or which JSON patch operations adopt it. The reconcilers call these at thin call sites.
 *
 * What k0smotron leaves (its api/infrastructure/v1beta{1,2} types and remote_machine_controller.go):
 * - its finalizer `remotemachine.k0smotron.io/finalizer` on every RemoteMachine it saw;
 * - `spec.providerID` on every machine it provisioned ("already has ProviderID, skipping" is its
 *   own rule), `status.initialization.provisioned` (v1beta2) or `status.ready` (v1beta1 era);
 * - on PooledRemoteMachines, the reservation in status only: `status.reserved` and
 *   `status.machineRef {name, namespace}`; Go writes `reserved: false, machineRef: {name: "",
 *   namespace: ""}` for a free machine. capi-remote keeps claims in annotations, and its own
 *   status always carries `phase`, which k0smotron's status type does not have: a reservation
 *   without a claim annotation and without `phase` is k0smotron's.
 */
import { PoolAnnotations, REMOTE_MACHINE_FINALIZER, RemoteAnnotations } from "@capi-remote/shared";

export { legacyReservation } from "@capi-remote/shared";

export const K0SMOTRON_FINALIZER = "remotemachine.k0smotron.io/finalizer";

type JsonOp =
  | { op: "add"; path: string; value: unknown }
  | { op: "remove"; path: string }
  | { op: "test"; path: string; value: unknown };

interface Meta {
  metadata: { finalizers?: string[]; annotations?: Record<string, string> };
}

/** True while the object still carries k0smotron's finalizer. */
export function hasK0smotronFinalizer(o: Meta): boolean {
  return o.metadata.finalizers?.includes(K0SMOTRON_FINALIZER) ?? false;
}

/**
 * JSON patch operations that put capi-remote's finalizer in place of k0smotron's, guarded by a
 * `test` of the whole list (a concurrent change makes the patch fail instead of losing a
 * finalizer someone else added). Undefined when there is nothing to change.
 */
export function finalizerHandOver(o: Meta, keepOurs = true): JsonOp[] | undefined {
  const list = o.metadata.finalizers ?? [];
  if (keepOurs && list.includes(REMOTE_MACHINE_FINALIZER) && !list.includes(K0SMOTRON_FINALIZER)) return undefined;
  const next = list.filter((f) => f !== K0SMOTRON_FINALIZER && f !== REMOTE_MACHINE_FINALIZER);
  if (keepOurs) next.push(REMOTE_MACHINE_FINALIZER);
  if (next.length === list.length && next.every((f, i) => f === list[i])) return undefined;
  return o.metadata.finalizers
    ? [
        { op: "test", path: "/metadata/finalizers", value: list },
        { op: "add", path: "/metadata/finalizers", value: next },
      ]
    : [{ op: "add", path: "/metadata/finalizers", value: next }];
}

/** The finalizers this controller answers for: its own, and k0smotron's on objects it took over. */
export function ownsDeletion(o: Meta): boolean {
  const list = o.metadata.finalizers ?? [];
  return list.includes(REMOTE_MACHINE_FINALIZER) || list.includes(K0SMOTRON_FINALIZER);
}

/**
 * The merge patch that turns k0smotron's reservation into capi-remote's claim, for a
 * compare-and-swap on the pool machine (the caller adds the resourceVersion). The UID is the
 * RemoteMachine's of that name now (k0smotron matched by name only); empty when it is gone, so
 * the claim shows as stale and can be released.
 */
export function adoptReservationPatch(name: string, uid: string | undefined) {
  return {
    metadata: { annotations: { [PoolAnnotations.ClaimedBy]: name, [PoolAnnotations.ClaimedByUID]: uid ?? "" } },
  };
}

/**
 * Whether the RemoteMachine was provisioned before capi-remote saw it (k0smotron's rule: a
 * provider ID means provisioned). A machine provisioned by capi-remote has one too; either way it
 * is never bootstrapped again.
 */
export function provisionedBefore(rm: { spec: { providerID?: string } }): boolean {
  return !!rm.spec.providerID;
}

/**
 * Annotation a pool RemoteMachine k0smotron provisioned lacks: the name of its pool machine, so
 * that the claim is recognised after a `clusterctl move` (new UIDs) as for machines capi-remote
 * claimed itself.
 */
export function poolMachineAnnotationOps(rm: Meta, poolMachine: string | undefined): JsonOp[] | undefined {
  if (!poolMachine || rm.metadata.annotations?.[RemoteAnnotations.PoolMachine]) return undefined;
  const key = RemoteAnnotations.PoolMachine.replaceAll("~", "~0").replaceAll("/", "~1");
  return rm.metadata.annotations
    ? [{ op: "add", path: `/metadata/annotations/${key}`, value: poolMachine }]
    : [{ op: "add", path: "/metadata/annotations", value: { [RemoteAnnotations.PoolMachine]: poolMachine } }];
}
