/**
 * RemoteCluster: a placeholder InfraCluster. It reports itself provisioned (both contracts) and
 * leaves `spec.controlPlaneEndpoint` for Cluster API to copy. Objects labelled
 * `cluster.x-k8s.io/managed-by` belong to someone else and are skipped.
 */
import {
  CAPILabels,
  type Cluster,
  type Condition,
  ConditionType,
  fitToSchema,
  isPaused,
  Reason,
  type RemoteCluster,
  RemoteClusterStatusSchema,
  setCondition,
} from "@capi-remote/shared";
import { isNotFound, R } from "../kube/api.js";
import type { Informer } from "../runtime/informer.js";
import type { Ctx, Named } from "./context.js";
import { mergePatch } from "./diff.js";

export class RemoteClusterReconciler {
  constructor(
    private readonly ctx: Pick<Ctx, "api" | "now" | "events" | "log">,
    private readonly remoteClusters: Informer<RemoteCluster & Named>,
    private readonly clusters: Informer<Cluster & Named>,
  ) {}

  /** The Cluster that references a RemoteCluster, if any. */
  private owner(rc: RemoteCluster & Named): (Cluster & Named) | undefined {
    const owner = rc.metadata.ownerReferences?.find((o) => o.kind === "Cluster");
    return owner ? this.clusters.get(rc.metadata.namespace, owner.name) : undefined;
  }

  async reconcile(key: string): Promise<undefined> {
    const [ns, name] = key.split("/") as [string, string];
    const rc = this.remoteClusters.get(ns, name);
    if (!rc || rc.metadata.deletionTimestamp) return undefined;
    if (rc.metadata.labels?.[CAPILabels.ManagedBy] !== undefined) return undefined;
    const status = structuredClone(rc.status ?? {});
    const conditions: Condition[] = structuredClone(rc.status?.conditions ?? []);
    const now = this.ctx.now();
    const gen = rc.metadata.generation;
    if (isPaused(this.owner(rc), rc)) {
      setCondition(conditions, { type: ConditionType.Paused, status: "True", reason: Reason.Paused }, now, gen);
    } else {
      setCondition(conditions, { type: ConditionType.Paused, status: "False", reason: Reason.NotPaused }, now, gen);
      const ep = rc.spec?.controlPlaneEndpoint;
      setCondition(
        conditions,
        ep
          ? {
              type: ConditionType.ControlPlaneEndpointSet,
              status: "True",
              reason: Reason.ControlPlaneEndpointSet,
              message: `${ep.host}:${ep.port}`,
            }
          : {
              type: ConditionType.ControlPlaneEndpointSet,
              status: "False",
              reason: Reason.ControlPlaneEndpointNotSet,
              message: "no spec.controlPlaneEndpoint; the control plane provider supplies it",
            },
        now,
        gen,
      );
      setCondition(conditions, { type: ConditionType.Ready, status: "True", reason: Reason.Provisioned }, now, gen);
      if (!status.initialization?.provisioned) {
        void this.ctx.events.emit(
          {
            apiVersion: rc.apiVersion,
            kind: "RemoteCluster",
            metadata: rc.metadata as Named["metadata"] & { uid?: string },
          },
          "Normal",
          Reason.Provisioned,
          "cluster infrastructure provisioned",
        );
      }
      status.ready = true;
      status.initialization = { provisioned: true };
    }
    status.conditions = conditions;
    const patch = mergePatch(rc.status ?? {}, fitToSchema(status, RemoteClusterStatusSchema));
    if (patch === undefined) return undefined;
    await this.ctx.api.patch(R.remoteClusters, ns, name, { status: patch }, "merge", "status").catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
    return undefined;
  }
}
