/**
 * RemoteMachineTemplate status: the counts of its pool (the machines its selector matches) and,
 * when those machines are alike, the v1beta2 `capacity` and `nodeInfo` the cluster autoscaler
 * reads to scale a MachineDeployment up from zero.
 */
import {
  alikeShape,
  claimantName,
  countPool,
  fitToSchema,
  matchesSelector,
  poolPhaseOf,
  type RemoteMachineTemplateStatus,
  RemoteMachineTemplateStatusSchema,
} from "@capi-remote/shared";
import { isNotFound, R } from "../kube/api.js";
import type { Ctx } from "./context.js";
import { mergePatch } from "./diff.js";

export class TemplateReconciler {
  constructor(private readonly ctx: Ctx) {}

  async reconcile(key: string): Promise<undefined> {
    const [ns, name] = key.split("/") as [string, string];
    const t = this.ctx.inf.remoteMachineTemplates.get(ns, name);
    if (!t || t.metadata.deletionTimestamp) return undefined;
    const spec = t.spec.template.spec;
    const pool = spec.pool;
    if (!pool) return undefined;
    const machines = this.ctx.pools
      .poolMachines(ns, pool)
      .filter((p) => matchesSelector(p.metadata.labels, spec.poolSelector));
    const counts = countPool(
      machines.map((p) => ({
        phase: poolPhaseOf(p, this.ctx.inf.remoteMachines.get(ns, claimantName(p) ?? "")),
        cordoned: p.spec.cordoned,
      })),
    );
    const status: RemoteMachineTemplateStatus = { ...(t.status ?? {}), pool: { name: pool, ...counts } };
    const shape = alikeShape(machines.map((p) => p.status?.facts));
    if (shape) {
      status.capacity = shape.capacity;
      status.nodeInfo = shape.nodeInfo;
    } else {
      delete status.capacity;
      delete status.nodeInfo;
    }
    const patch = mergePatch(t.status ?? {}, fitToSchema(status, RemoteMachineTemplateStatusSchema));
    if (patch === undefined) return undefined;
    try {
      await this.ctx.api.patch(R.remoteMachineTemplates, ns, name, { status: patch }, "merge", "status");
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    return undefined;
  }
}
