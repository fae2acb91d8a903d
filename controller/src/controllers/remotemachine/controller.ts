/**
 * The RemoteMachine controller on the shared skeleton (runtime/reconciler.ts):
 *
 *   get (our own newer write over the cache; spec defaults) -> finalizer (phases/finalizer.ts)
 *   -> scope -> paused: [paused]
 *             | normal: [owner, provisioned, health, pool, clusterInfra, bootstrapData, provisionJob,
 *                        provision, node]
 *             | delete: [stopTasks, cleanup, settlePool, removeFinalizer]
 *   -> status (status.ts, pure) -> one write decision (runtime/statuswriter.ts)
 *
 * Each phase is a function of the scope (scope.ts says which phase sets what); what is kept
 * between passes is in deps.ts's Memory.
 */
import { ApiError, isConflict, isNotFound, R } from "../../kube/api.js";
import { mergePatch } from "../../kube/patch.js";
import { withSpecDefaults } from "../../migration/defaults.js";
import { keyOf } from "../../runtime/informer.js";
import { defineReconciler, type Result } from "../../runtime/reconciler.js";
import { StatusWriter } from "../../runtime/statuswriter.js";
import type { Ctx } from "../context.js";
import { type Deps, logOf, Memory } from "./deps.js";
import { bootstrapData, clusterInfra } from "./phases/bootstrapdata.js";
import { cleanup, removeFinalizer, settle, stopTasks } from "./phases/delete.js";
import { ensureFinalizer } from "./phases/finalizer.js";
import { health } from "./phases/health.js";
import { node } from "./phases/node.js";
import { lookUpOwner, owner, paused, pausedOf, provisioned } from "./phases/owner.js";
import { pool } from "./phases/pool.js";
import { provision } from "./phases/provision.js";
import { provisionJob } from "./phases/provisionjob.js";
import type { RM, Scope } from "./scope.js";
import { finalStatus, statusUrgent } from "./status.js";

/** Scope plus what only the controller's own steps read. */
interface Pass extends Scope {
  /** The resourceVersion the pass started from (after the finalizer write). */
  startVersion?: string;
}

export interface RemoteMachineOptions {
  /** How long "connecting" may last before it is written (the first step usually follows). */
  connectingHoldMs?: number;
  writer?: StatusWriter;
}

export function remoteMachineReconciler(ctx: Ctx, o: RemoteMachineOptions = {}): (key: string) => Promise<Result> {
  const mem = new Memory();
  // The informer's events tell the overlay when the cache has caught up with our own writes.
  const seen = (rm: RM) => mem.written.seen(keyOf(rm), rm);
  ctx.inf.remoteMachines.on({ onAdd: seen, onUpdate: seen, onDelete: (rm) => mem.written.gone(keyOf(rm)) });
  const writer = o.writer ?? new StatusWriter((key) => ctx.queue.add(key));
  const d: Deps = {
    ctx,
    mem,
    writer,
    connectingHoldMs: o.connectingHoldMs ?? 5_000,
    writes: {
      api: ctx.api,
      current: (ns, name) => mem.written.get(`${ns}/${name}`, ctx.inf.remoteMachines.get(ns, name)),
      noteWritten: (obj) => mem.written.noteWritten(`${obj.metadata.namespace}/${obj.metadata.name}`, obj),
      now: () => ctx.now(),
      priority: (write) => writer.starts.run(write),
    },
  };
  const reconcile = defineReconciler<RM, Pass>({
    get: (ns, name) => {
      const seen = mem.written.get(`${ns}/${name}`, ctx.inf.remoteMachines.get(ns, name));
      return seen && withSpecDefaults(seen);
    },
    gone: (key) => forgetObject(ctx, mem, writer, key),
    deleting: (rm) => !!rm.metadata.deletionTimestamp,
    ensureFinalizer: (rm) => ensureFinalizer(d, rm),
    newScope: (rm, key) => {
      const base = mem.pendingStatus.get(key) ?? rm.status ?? {};
      return {
        key,
        rm,
        status: structuredClone(base),
        conditions: structuredClone(base.conditions ?? []),
        set: new Set(),
        startVersion: rm.metadata.resourceVersion,
        ...lookUpOwner(d, rm),
      };
    },
    isPaused: pausedOf,
    paused: [paused(d)],
    normal: [
      owner(d),
      provisioned(d),
      health(d),
      pool(d),
      clusterInfra(d),
      bootstrapData(d),
      provisionJob(d),
      provision(d),
      node(d),
    ],
    delete: [stopTasks(d), cleanup(d), settle(d), removeFinalizer(d)],
    setStatus: (s) => {
      s.status = finalStatus(s.status, s.conditions, {
        blocker: s.blocker,
        set: s.set,
        generation: s.rm.metadata.generation,
        now: ctx.now(),
      });
    },
    writeStatus: async (s) => {
      const deferMs = await writeStatus(d, s);
      // Metadata written in this pass without a status write after it: later passes start
      // from it until the cache shows it.
      if (s.rm.metadata.resourceVersion !== s.startVersion && mem.written.peek(s.key) !== s.rm)
        mem.written.noteWritten(s.key, s.rm);
      return deferMs;
    },
  });
  return async (key) => {
    try {
      return await reconcile(key);
    } catch (e) {
      // Someone else wrote since: the retry starts from the cache.
      if (isConflict(e) || (e instanceof ApiError && e.status === 422)) mem.written.forget(key);
      throw e;
    }
  };
}

/** The object is gone: its tasks, health probes and everything remembered of it go too. */
function forgetObject(ctx: Ctx, mem: Memory, writer: StatusWriter, key: string): void {
  ctx.health?.forget(key);
  ctx.tasks.cancel(key);
  ctx.hosts.dropWarm(key);
  mem.forget(key);
  writer.forget(key);
}

/** Writes the status now or defers it (returns in how many ms to come back). */
async function writeStatus(d: Deps, s: Scope): Promise<number | undefined> {
  const patch = mergePatch(s.rm.status ?? {}, s.status);
  if (patch === undefined) {
    d.mem.pendingStatus.delete(s.key);
    return undefined;
  }
  // runtime/statuswriter.ts decides when (urgent changes at once, progress coalesced).
  const deferMs = d.writer.decide(s.key, {
    urgent: statusUrgent(s.rm.status, s.status, !!s.rm.metadata.deletionTimestamp),
    holdMs: s.holdStatusMs,
  });
  if (deferMs > 0) {
    d.mem.pendingStatus.set(s.key, s.status);
    return deferMs;
  }
  logOf(d, s).debug("status patch", { patch });
  try {
    // The resourceVersion makes a write computed from a stale cache fail (409) instead of
    // undoing a newer status; the retry then sees the fresh object.
    const res = await d.ctx.api.patch<RM>(
      R.remoteMachines,
      s.rm.metadata.namespace,
      s.rm.metadata.name,
      { metadata: { resourceVersion: s.rm.metadata.resourceVersion }, status: patch },
      "merge",
      "status",
    );
    s.rm = res;
    d.mem.written.noteWritten(s.key, res);
    d.mem.pendingStatus.delete(s.key);
    d.writer.wrote(s.key);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  return undefined;
}
