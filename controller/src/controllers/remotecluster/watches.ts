/** What wakes a RemoteCluster: itself, and the Cluster that references it. */
import { type Cluster, referenceOf } from "@capi-remote/shared";
import type { Named } from "../../kube/objects.js";

/** A Cluster changed: the RemoteCluster it names as its infrastructure. */
export function clusterToRemoteCluster(c: Cluster & Named): string | undefined {
  const ref = referenceOf(c.spec.infrastructureRef);
  return ref?.kind === "RemoteCluster" ? `${c.metadata.namespace ?? ""}/${ref.name}` : undefined;
}
