/**
 * The RemoteMachine controller's registration with the manager: its reconcile, the indexes its
 * mappers read, and what wakes it (watches.ts answers each from an index).
 */
import { claimantName, isClaimable, type PooledRemoteMachine } from "@capi-remote/shared";
import type { Named } from "../../kube/objects.js";
import { keyOf } from "../../runtime/informer.js";
import type { Manager } from "../../runtime/manager.js";
import type { Node } from "../../workload/nodes.js";
import type { Ctx } from "../context.js";
import { remoteMachineReconciler } from "./controller.js";
import {
  addRemoteMachineIndexes,
  clusterChanged,
  clusterToRemoteMachines,
  jobToRemoteMachine,
  machineChanged,
  machineToRemoteMachine,
  nodeToRemoteMachines,
  poolToWaitingRemoteMachines,
  secretToRemoteMachines,
} from "./watches.js";

type PRM = PooledRemoteMachine & Named;

export const REMOTE_MACHINE_CONTROLLER = "remotemachine";

/** A workload cluster's Node appeared or changed what matching reads: the machines it concerns. */
export function nodeToQueue(ctx: Pick<Ctx, "inf" | "queue">) {
  return (clusterKey: string, node?: Node) => {
    for (const k of nodeToRemoteMachines(ctx.inf, clusterKey, node)) ctx.queue.add(k);
  };
}

/** `ctx.queue` is this controller's queue (from `manager.queue(REMOTE_MACHINE_CONTROLLER)`). */
export function registerRemoteMachine(m: Manager, ctx: Ctx): void {
  const { inf, queue } = ctx;
  addRemoteMachineIndexes(inf);
  m.reconcileWith(REMOTE_MACHINE_CONTROLLER, remoteMachineReconciler(ctx));
  const add = (k: string | undefined) => k && queue.add(k);
  const enqueue = (o: { metadata: { namespace?: string; name: string } }) => queue.add(keyOf(o));
  inf.remoteMachines.on({ onAdd: enqueue, onUpdate: enqueue, onDelete: enqueue });
  const fromPoolMachine = (p: PRM, old?: PRM) => {
    // A machine became free (joined, freed, uncordoned): the RemoteMachines waiting on its pool
    // try again at once. Only then: waking every waiting RemoteMachine on each status write of
    // a free machine would cost n reconciles per write.
    if ((!old || !isClaimable(old, old.spec.pool)) && isClaimable(p, p.spec.pool))
      for (const rm of poolToWaitingRemoteMachines(inf, p.metadata.namespace ?? "", p.spec.pool)) enqueue(rm);
    // The holder re-reads its pool machine (e.g. a claim that a release cleared).
    const who = claimantName(p) ?? (old ? claimantName(old) : undefined);
    if (who) queue.add(`${p.metadata.namespace}/${who}`);
  };
  inf.pooledRemoteMachines.on({ onAdd: (p) => fromPoolMachine(p), onUpdate: (p, old) => fromPoolMachine(p, old) });
  inf.machines.on({
    onAdd: (mc) => add(machineToRemoteMachine(mc)),
    onUpdate: (mc, old) => {
      if (machineChanged(mc, old)) add(machineToRemoteMachine(mc));
    },
    onDelete: (mc) => add(machineToRemoteMachine(mc)),
  });
  const fromCluster = (c: { metadata: { namespace?: string; name: string } }) => {
    for (const rm of clusterToRemoteMachines(inf, c.metadata.namespace ?? "", c.metadata.name)) enqueue(rm);
  };
  inf.clusters.on({
    onAdd: fromCluster,
    onUpdate: (c, old) => {
      if (clusterChanged(c, old)) fromCluster(c);
    },
    onDelete: (c) => {
      ctx.nodes.forget(keyOf(c));
      fromCluster(c);
    },
  });
  const fromSecret = (s: Parameters<typeof secretToRemoteMachines>[1]) => {
    for (const k of secretToRemoteMachines(inf, s)) queue.add(k);
  };
  ctx.secrets.on({ onAdd: fromSecret, onUpdate: fromSecret, onDelete: fromSecret });
  const fromJob = (j: Parameters<typeof jobToRemoteMachine>[0]) => add(jobToRemoteMachine(j));
  inf.jobs?.on({ onAdd: fromJob, onUpdate: fromJob, onDelete: fromJob });
}
