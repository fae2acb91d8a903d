/**
 * RemoteMachineTemplate on the shared skeleton: one phase reads the pool (the machines its
 * selector matches, with our own claims applied), the pure status step counts it, one write.
 * Templates without a pool have no status of ours and are skipped.
 */
import {
  claimantName,
  fitToSchema,
  matchesSelector,
  poolPhaseOf,
  type RemoteMachineTemplate,
  type RemoteMachineTemplateStatus,
  RemoteMachineTemplateStatusSchema,
} from "@capi-remote/shared";
import { isNotFound, R } from "../../kube/api.js";
import type { Named } from "../../kube/objects.js";
import { mergePatch } from "../../kube/patch.js";
import { defineReconciler, type Result } from "../../runtime/reconciler.js";
import type { Ctx } from "../context.js";
import { type PoolMember, templateStatus } from "./status.js";

type T = RemoteMachineTemplate & Named;

interface Scope {
  t: T;
  pool: string;
  /** Set by the `pool` phase. */
  members: PoolMember[];
  /** Set by setStatus. */
  status?: RemoteMachineTemplateStatus;
}

export function templateReconciler(ctx: Pick<Ctx, "api" | "pools" | "inf">): (key: string) => Promise<Result> {
  return defineReconciler<T, Scope>({
    get: (ns, name) => ctx.inf.remoteMachineTemplates.get(ns, name),
    skip: (t) => !t.spec.template.spec.pool,
    deleting: (t) => !!t.metadata.deletionTimestamp,
    newScope: (t) => ({ t, pool: t.spec.template.spec.pool ?? "", members: [] }),
    normal: [
      {
        name: "pool",
        run: (s) => {
          const ns = s.t.metadata.namespace ?? "";
          s.members = ctx.pools
            .poolMachines(ns, s.pool)
            .filter((p) => matchesSelector(p.metadata.labels, s.t.spec.template.spec.poolSelector))
            .map((p) => ({
              phase: poolPhaseOf(p, ctx.inf.remoteMachines.get(ns, claimantName(p) ?? "")),
              cordoned: p.spec.cordoned,
              facts: p.status?.facts,
            }));
          return undefined;
        },
      },
    ],
    setStatus: (s) => {
      if (!s.t.metadata.deletionTimestamp) s.status = templateStatus(s.t.status, s.pool, s.members);
    },
    writeStatus: async (s) => {
      if (!s.status) return undefined;
      const patch = mergePatch(s.t.status ?? {}, fitToSchema(s.status, RemoteMachineTemplateStatusSchema));
      if (patch === undefined) return undefined;
      try {
        await ctx.api.patch(
          R.remoteMachineTemplates,
          s.t.metadata.namespace,
          s.t.metadata.name,
          { status: patch },
          "merge",
          "status",
        );
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      return undefined;
    },
  });
}
