/**
 * Who the RemoteMachine belongs to: its Machine (checked to name it) and that Machine's
 * Cluster; paused reporting; and the rebuild of a machine provisioned before (by us, or by
 * k0smotron before the switch; possibly a status wiped by clusterctl move).
 */
import { ConditionType, isPaused, Reason, RemoteAnnotations } from "@capi-remote/shared";
import { poolMachineAnnotationOps, provisionedBefore } from "../../../migration/k0smotron.js";
import type { Phase } from "../../../runtime/reconciler.js";
import { ownerMismatch } from "../../../security/ownership.js";
import { block, condition, type Deps, jsonPatch, ownerRef, targetOf } from "../deps.js";
import type { RM, Scope } from "../scope.js";
import { setProvisioned } from "../status.js";
import { referencingMachine } from "../watches.js";

const PAUSED = "the Cluster or this object is paused";

/**
 * What newScope looks up: the owner reference, and the Machine to check pausing with. Cluster
 * API sets the owner reference, but not while the Cluster is paused: the Machine is found
 * through its infrastructureRef too, so pausing is reported either way.
 */
export function lookUpOwner(d: Deps, rm: RM): Pick<Scope, "owner" | "found" | "cluster"> {
  const ns = rm.metadata.namespace ?? "";
  const owner = ownerRef(rm);
  const found = owner ? d.ctx.inf.machines.get(ns, owner.name) : referencingMachine(d.ctx.inf.machines, rm);
  const cluster = found ? d.ctx.inf.clusters.get(ns, found.spec.clusterName) : undefined;
  return { owner, found, cluster };
}

/** Paused (Cluster API's contract): only deletion goes on. */
export const pausedOf = (s: Scope) => !s.rm.metadata.deletionTimestamp && !!s.found && isPaused(s.cluster, s.rm);

export const paused = (d: Deps): Phase<Scope> => ({
  name: "paused",
  run: (s) => {
    d.ctx.health?.forget(s.key);
    condition(d, s, ConditionType.Paused, "True", Reason.Paused, PAUSED, "Normal");
    return block(s, Reason.Paused, PAUSED);
  },
});

export const owner = (d: Deps): Phase<Scope> => ({
  name: "owner",
  run: (s) => {
    if (!s.owner)
      return block(s, Reason.WaitingForMachineOwner, "waiting for a Cluster API Machine to own this RemoteMachine");
    const machine = s.found;
    if (!machine) return block(s, Reason.WaitingForMachineOwner, `Machine ${s.owner.name} not found`);
    const mismatch = ownerMismatch({ kind: "RemoteMachine", metadata: s.rm.metadata }, machine, s.owner);
    if (mismatch) {
      // Nothing of that Machine is read, run or touched (its data, its Node).
      const prev = s.conditions.find((c) => c.type === ConditionType.Ready);
      if (prev?.reason !== Reason.OwnerMachineMismatch)
        void d.ctx.events.emit(targetOf(s), "Warning", Reason.OwnerMachineMismatch, mismatch);
      d.ctx.hosts.dropWarm(s.key);
      return block(s, Reason.OwnerMachineMismatch, mismatch);
    }
    s.machine = machine;
    if (!s.cluster) return block(s, Reason.WaitingForCluster, `Cluster ${machine.spec.clusterName} not found`);
    condition(d, s, ConditionType.Paused, "False", Reason.NotPaused);
    return undefined;
  },
});

/** Provisioned before: status rebuilt from spec, nothing runs again; the Node is looked for. */
export const provisioned = (d: Deps): Phase<Scope> => ({
  name: "provisioned",
  run: async (s) => {
    if (!provisionedBefore(s.rm)) return undefined;
    const rm = s.rm;
    s.rebuilt = true;
    d.ctx.tasks.clear(s.key);
    condition(d, s, ConditionType.BootstrapExecSucceeded, "True", Reason.BootstrapSucceeded);
    s.status.bootstrap = { ...(s.status.bootstrap ?? {}), phase: "Succeeded" };
    const held = rm.spec.pool ? d.ctx.pools.heldBy(rm) : undefined;
    // A pool machine k0smotron claimed: name it on the RemoteMachine as our own claims do.
    const named = poolMachineAnnotationOps(rm, held?.metadata.name);
    if (named) await jsonPatch(d, s, named);
    if (held) {
      condition(
        d,
        s,
        ConditionType.PoolMachineClaimed,
        "True",
        Reason.PoolMachineClaimed,
        `pool machine ${held.metadata.name} (${held.spec.machine.address})`,
      );
    }
    setProvisioned(
      s.status,
      s.rm.spec.address ?? "",
      undefined,
      s.rm.metadata.annotations?.[RemoteAnnotations.Hostname],
    );
    s.checkNode = true;
    return undefined;
  },
});
