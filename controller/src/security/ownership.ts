/**
 * Which Machine a RemoteMachine serves. An owner reference alone proves nothing: anyone who can
 * create a RemoteMachine can name any Machine of the namespace as its owner, and the Machine's
 * bootstrap data (for a control-plane Machine: the cluster's CA keys) would then be run at the
 * RemoteMachine's address. Cluster API's own contract is the other direction: the Machine's
 * `spec.infrastructureRef` names its infrastructure object. Both must agree before anything of
 * the Machine is read, sent or touched.
 */
import { GROUP, type Machine, referenceOf } from "@capi-remote/shared";

interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string };
}
interface OwnerRef {
  name: string;
  uid?: string;
}

/**
 * Undefined when `machine` is `obj`'s Machine (its infrastructureRef names `obj` by API group,
 * kind and name, in the same namespace, and the owner reference's UID is the Machine's);
 * otherwise a message naming the field that disagrees.
 */
export function ownerMismatch(
  obj: Obj,
  machine: Pick<Machine, "spec"> & { metadata: { name: string; namespace?: string; uid?: string } },
  owner?: OwnerRef,
): string | undefined {
  const ref = referenceOf(machine.spec.infrastructureRef);
  const m = `Machine ${machine.metadata.name}`;
  if (owner?.uid && machine.metadata.uid && owner.uid !== machine.metadata.uid)
    return `metadata.ownerReferences names ${m} with uid ${owner.uid}, but ${m} has uid ${machine.metadata.uid}`;
  if (machine.metadata.namespace !== undefined && machine.metadata.namespace !== obj.metadata.namespace)
    return `${m} is in another namespace`;
  if (!ref) return `${m} has no spec.infrastructureRef, so it does not name this ${obj.kind}`;
  if (ref.kind !== obj.kind || ref.name !== obj.metadata.name || ref.group !== GROUP) {
    const named = `${ref.kind} ${ref.name}${ref.group ? ` (${ref.group})` : ""}`;
    return `${m}'s spec.infrastructureRef names ${named}, not this ${obj.kind}; its bootstrap data is not read and nothing is sent`;
  }
  return undefined;
}
