/**
 * A RemoteMachine that takes its machine from a pool: claims one (or finds the one it holds),
 * copies its connection fields and metadata in, and passes its labels and annotations to the
 * Machine. The claim itself is a compare-and-swap on the pool machine (pool/claims.ts).
 */
import {
  ConditionType,
  claimantName,
  countPool,
  type Machine,
  type PooledRemoteMachine,
  poolPhaseOf,
  REMOTE_MACHINE_FINALIZER,
  Reason,
  RemoteAnnotations,
} from "@capi-remote/shared";
import { isNotFound, R } from "../../../kube/api.js";
import type { Named } from "../../../kube/objects.js";
import { claimPatch, propagatedMetadata } from "../../../pool/copy.js";
import type { Phase } from "../../../runtime/reconciler.js";
import { block, condition, type Deps } from "../deps.js";
import type { RM, Scope } from "../scope.js";

type PRM = PooledRemoteMachine & Named;

export const pool = (d: Deps): Phase<Scope> => ({
  name: "pool",
  when: (s) => !s.rebuilt && !!s.rm.spec.pool,
  run: async (s) => {
    const machine = s.machine as Machine & Named;
    let prm = d.ctx.pools.heldBy(s.rm);
    if (!prm) {
      const claimed = s.rm.metadata.annotations?.[RemoteAnnotations.PoolMachine];
      if (claimed && s.rm.spec.address) {
        // Claimed before; the pool machine was deleted since. The copied fields still work.
        const msg = `pool machine ${claimed} (no longer in the pool)`;
        condition(d, s, ConditionType.PoolMachineClaimed, "True", Reason.PoolMachineClaimed, msg);
        return undefined;
      }
      prm = await d.ctx.pools.claim(s.rm, s.rm.spec.pool ?? "", s.rm.spec.poolSelector);
      if (!prm) return noFreeMachine(d, s);
    }
    const copied = s.rm.metadata.annotations?.[RemoteAnnotations.PoolMachine] === prm.metadata.name;
    if (!copied || !s.rm.spec.address) await recordClaim(d, s, prm, machine);
    condition(
      d,
      s,
      ConditionType.PoolMachineClaimed,
      "True",
      Reason.PoolMachineClaimed,
      `pool machine ${prm.metadata.name} (${prm.spec.machine.address})`,
    );
    return undefined;
  },
});

/** Waiting: says how the pool stands. */
function noFreeMachine(d: Deps, s: Scope) {
  const ns = s.rm.metadata.namespace ?? "";
  const pool = s.rm.spec.pool ?? "";
  const counts = countPool(
    d.ctx.pools.poolMachines(ns, pool).map((p) => ({
      phase: poolPhaseOf(p, d.ctx.inf.remoteMachines.get(ns, claimantName(p) ?? "")),
      cordoned: p.spec.cordoned,
    })),
  );
  const msg =
    `no free machine in pool ${pool}${s.rm.spec.poolSelector ? " matching the selector" : ""}: ` +
    `${counts.total} in total, ${counts.claimed} claimed, ${counts.cordoned} cordoned, ${counts.quarantined} quarantined`;
  condition(d, s, ConditionType.PoolMachineClaimed, "False", Reason.WaitingForPoolMachine, msg, "Normal");
  return block(s, Reason.WaitingForPoolMachine, msg);
}

/** The claim recorded on the RemoteMachine (with the pool machine's fields), and on the Machine. */
async function recordClaim(d: Deps, s: Scope, prm: PRM, machine: Machine & Named): Promise<void> {
  const ns = s.rm.metadata.namespace ?? "";
  const patch = claimPatch(prm);
  const finalizers = s.rm.metadata.finalizers ?? [];
  // With the resourceVersion: should two controllers both claim for this RemoteMachine, only
  // one record wins; the other claim is then a duplicate the pool machine's reconcile clears.
  // The finalizer goes in the same write (the whole list: safe under the resourceVersion).
  const res = await d.ctx.api
    .patch<RM>(R.remoteMachines, ns, s.rm.metadata.name, {
      ...patch,
      metadata: {
        ...patch.metadata,
        resourceVersion: s.rm.metadata.resourceVersion,
        ...(finalizers.includes(REMOTE_MACHINE_FINALIZER)
          ? {}
          : { finalizers: [...finalizers, REMOTE_MACHINE_FINALIZER] }),
      },
    })
    .catch(async (e: unknown) => {
      // Deleted between its claim and the record: nothing ran on the machine, which goes
      // straight back to the pool.
      if (isNotFound(e)) await d.ctx.pools.release(prm, s.rm).catch(() => false);
      throw e;
    });
  s.rm = { ...res, status: s.rm.status };
  const { labels, annotations } = propagatedMetadata(prm);
  const missing = (want: Record<string, string>, have: Record<string, string> | undefined) =>
    Object.entries(want).some(([k, v]) => have?.[k] !== v);
  if (missing(labels, machine.metadata.labels) || missing(annotations, machine.metadata.annotations)) {
    await d.ctx.api.patch(R.machines, ns, machine.metadata.name, { metadata: { labels, annotations } });
  }
}
