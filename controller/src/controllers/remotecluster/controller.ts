/**
 * RemoteCluster: a placeholder InfraCluster on the shared skeleton. It reports itself
 * provisioned (both contracts) and leaves `spec.controlPlaneEndpoint` for Cluster API to copy.
 * Objects labelled `cluster.x-k8s.io/managed-by` belong to someone else and are skipped. No
 * finalizer and no delete phases: nothing outside the object is made.
 */
import {
  CAPILabels,
  type Cluster,
  fitToSchema,
  isPaused,
  ReadyReason,
  type RemoteCluster,
  type RemoteClusterStatus,
  RemoteClusterStatusSchema,
} from "@capi-remote/shared";
import { isNotFound, R } from "../../kube/api.js";
import type { Named } from "../../kube/objects.js";
import { mergePatch } from "../../kube/patch.js";
import { defineReconciler, type Result } from "../../runtime/reconciler.js";
import type { Indexed } from "../../runtime/store.js";
import type { Ctx } from "../context.js";
import { remoteClusterStatus } from "./status.js";

type RC = RemoteCluster & Named;

interface Scope {
  rc: RC;
  /** Set by setStatus. */
  status?: RemoteClusterStatus;
  becameProvisioned?: boolean;
}

export function remoteClusterReconciler(
  ctx: Pick<Ctx, "api" | "now" | "events">,
  remoteClusters: Pick<Indexed<RC>, "get">,
  clusters: Pick<Indexed<Cluster & Named>, "get">,
): (key: string) => Promise<Result> {
  const owner = (rc: RC) => {
    const o = rc.metadata.ownerReferences?.find((r) => r.kind === "Cluster");
    return o ? clusters.get(rc.metadata.namespace, o.name) : undefined;
  };
  return defineReconciler<RC, Scope>({
    get: (ns, name) => remoteClusters.get(ns, name),
    skip: (rc) => rc.metadata.labels?.[CAPILabels.ManagedBy] !== undefined,
    deleting: (rc) => !!rc.metadata.deletionTimestamp,
    newScope: (rc) => ({ rc }),
    // Everything is in the status: the phase lists are empty, deletion needs nothing.
    normal: [],
    setStatus: (s) => {
      const r = remoteClusterStatus(
        s.rc.status,
        {
          paused: isPaused(owner(s.rc), s.rc),
          endpoint: s.rc.spec?.controlPlaneEndpoint,
          generation: s.rc.metadata.generation,
        },
        ctx.now(),
      );
      s.status = r.status;
      s.becameProvisioned = r.becameProvisioned;
    },
    writeStatus: async (s) => {
      if (s.rc.metadata.deletionTimestamp || !s.status) return undefined;
      const { namespace, name } = s.rc.metadata;
      const patch = mergePatch(s.rc.status ?? {}, fitToSchema(s.status, RemoteClusterStatusSchema));
      if (patch !== undefined) {
        try {
          await ctx.api.patch(R.remoteClusters, namespace, name, { status: patch }, "merge", "status");
        } catch (e) {
          if (!isNotFound(e)) throw e;
          return undefined;
        }
      }
      if (s.becameProvisioned)
        void ctx.events.emit(
          {
            apiVersion: s.rc.apiVersion,
            kind: "RemoteCluster",
            metadata: s.rc.metadata as RC["metadata"] & { uid?: string },
          },
          "Normal",
          ReadyReason.Provisioned,
          "cluster infrastructure provisioned",
        );
      return undefined;
    },
  });
}
