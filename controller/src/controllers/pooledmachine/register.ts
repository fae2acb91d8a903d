/**
 * The pool machine controller's registration: its reconcile, its indexes, what wakes it, and the
 * yielding of mirror-only updates.
 */
import { RemoteAnnotations, type RemoteMachine } from "@capi-remote/shared";
import type { Named } from "../../kube/objects.js";
import { keyOf } from "../../runtime/informer.js";
import type { Manager } from "../../runtime/manager.js";
import { type WorkQueue, Yielding } from "../../runtime/queue.js";
import type { Ctx } from "../context.js";
import { pooledMachineReconciler } from "./controller.js";
import { addPoolMachineIndexes, machineToReturningPoolMachines, mirrorsOnly, secretToPoolMachines } from "./watches.js";

type RM = RemoteMachine & Named;

export const POOL_MACHINE_CONTROLLER = "pooledremotemachine";

/** `queue` is this controller's queue; `ctx.queue` the RemoteMachines', which it yields to. */
export function registerPoolMachine(m: Manager, ctx: Ctx, queue: WorkQueue): void {
  const { inf } = ctx;
  addPoolMachineIndexes(inf.pooledRemoteMachines);
  m.reconcileWith(POOL_MACHINE_CONTROLLER, pooledMachineReconciler(ctx, queue));
  /**
   * Pool machine reconciles that only bring its status up to date with its holder (a claim,
   * the holder's progress, our own status writes) yield to waiting RemoteMachines (at most
   * 5 s): in a burst, claims and bootstraps get the API server first. Anything a person or the
   * pool asks for (spec, labels, release, cordon, deletion) runs at once.
   */
  const mirror = new Yielding(
    (k) => queue.add(k),
    () => ctx.queue.depth > 0,
  );
  m.onStop(() => mirror.stop(), "first");
  // The pool machines a RemoteMachine holds (or names) show its progress in their phase.
  const fromRemoteMachine = (rm: RM) => {
    if (!rm.spec.pool) return;
    const ns = rm.metadata.namespace ?? "";
    for (const p of ctx.pools.claimedByName(ns, rm.metadata.name)) mirror.add(keyOf(p));
    const named = rm.metadata.annotations?.[RemoteAnnotations.PoolMachine];
    if (named) mirror.add(`${ns}/${named}`);
  };
  inf.remoteMachines.on({ onAdd: fromRemoteMachine, onUpdate: fromRemoteMachine, onDelete: fromRemoteMachine });
  inf.pooledRemoteMachines.on({
    onAdd: (p) => {
      mirror.delete(keyOf(p));
      queue.add(keyOf(p));
    },
    onUpdate: (p, old) => {
      if (mirrorsOnly(p, old)) mirror.add(keyOf(p));
      else {
        mirror.delete(keyOf(p));
        queue.add(keyOf(p));
      }
    },
    onDelete: (p) => queue.add(keyOf(p)),
  });
  inf.machines.on({
    onDelete: (mc) => {
      for (const k of machineToReturningPoolMachines(inf.pooledRemoteMachines, mc)) queue.add(k);
    },
  });
  const fromSecret = (s: Parameters<typeof secretToPoolMachines>[1]) => {
    for (const k of secretToPoolMachines(inf.pooledRemoteMachines, s)) queue.add(k);
  };
  ctx.secrets.on({ onAdd: fromSecret, onUpdate: fromSecret, onDelete: fromSecret });
}
