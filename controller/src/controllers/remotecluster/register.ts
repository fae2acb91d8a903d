/** The RemoteCluster controller's registration: its own objects, and their Clusters. */
import type { RemoteCluster } from "@capi-remote/shared";
import type { Named } from "../../kube/objects.js";
import type { Informer } from "../../runtime/informer.js";
import { keyOf } from "../../runtime/informer.js";
import type { Manager } from "../../runtime/manager.js";
import type { WorkQueue } from "../../runtime/queue.js";
import type { Ctx } from "../context.js";
import { remoteClusterReconciler } from "./controller.js";
import { clusterToRemoteCluster } from "./watches.js";

export const REMOTE_CLUSTER_CONTROLLER = "remotecluster";

export function registerRemoteCluster(
  m: Manager,
  ctx: Ctx,
  remoteClusters: Informer<RemoteCluster & Named>,
  queue: WorkQueue,
): void {
  m.reconcileWith(REMOTE_CLUSTER_CONTROLLER, remoteClusterReconciler(ctx, remoteClusters, ctx.inf.clusters));
  remoteClusters.on({ onAdd: (o) => queue.add(keyOf(o)), onUpdate: (o) => queue.add(keyOf(o)) });
  const fromCluster = (c: Parameters<typeof clusterToRemoteCluster>[0]) => {
    const k = clusterToRemoteCluster(c);
    if (k) queue.add(k);
  };
  ctx.inf.clusters.on({ onAdd: fromCluster, onUpdate: fromCluster });
}
