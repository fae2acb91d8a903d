/**
 * The PooledRemoteMachine controller on the shared skeleton (runtime/reconciler.ts): keeps the
 * status a person reads (phase, claim, conditions, the machine's facts) and carries out release
 * requests. Claims themselves are made and ended by the RemoteMachine controller (pool/claims.ts);
 * this one only clears claims nobody can hold any more (on request, or a duplicate superseded by
 * the holder's own record).
 *
 *   get (the freshest of the cache and our last write: a claim, release or status) -> scope
 *   -> [legacy, duplicate, returned, release, releasedShown, conditions, facts]
 *   -> status (status.ts, pure) -> one write
 *
 * A phase that throws leaves the status alone (statusOnFailure: false); the retry computes it.
 * No finalizer and no delete phases: nothing outside the object is made for it, and a pool
 * machine being deleted is reported like any other until it is gone.
 */
import { claimantName, holds, poolPhaseOf, returningAfterOf } from "@capi-remote/shared";
import { isConflict, isNotFound, R } from "../../kube/api.js";
import { mergePatch } from "../../kube/patch.js";
import { defineReconciler, type Result } from "../../runtime/reconciler.js";
import { fingerprint } from "../../ssh/hostkeys.js";
import type { Ctx } from "../context.js";
import { type Deps, taskKey } from "./deps.js";
import { duplicate, legacy, returned } from "./phases/claim.js";
import { conditions } from "./phases/conditions.js";
import { facts } from "./phases/facts.js";
import { release, releasedShown } from "./phases/release.js";
import { Memory, type PRM, type RM, type Scope } from "./scope.js";
import { finalPoolStatus, setHostKey, setPoolFields } from "./status.js";

export function pooledMachineReconciler(ctx: Ctx, queue: Deps["queue"]): (key: string) => Promise<Result> {
  const mem = new Memory();
  const d: Deps = { ctx, mem, queue };
  // The pool machines' one read-your-own-writes overlay, shared with the claims.
  const written = ctx.pools.written;
  return defineReconciler<PRM, Scope>({
    get: (ns, name) => {
      // A claim, release or status write of this process is newer than the cache until the
      // cache shows it (pool/claims.ts keeps the overlay).
      return written.get(`${ns}/${name}`, ctx.inf.pooledRemoteMachines.get(ns, name));
    },
    gone: (key) => {
      for (const what of ["facts", "release"] as const) ctx.tasks.cancel(taskKey(key, what));
      mem.forget(key);
    },
    deleting: () => false,
    newScope: (prm, key) => {
      const ns = prm.metadata.namespace ?? "";
      const who = claimantName(prm);
      const claimant = who ? (ctx.inf.remoteMachines.get(ns, who) as RM | undefined) : undefined;
      return {
        key,
        ns,
        prm,
        cached: ctx.inf.pooledRemoteMachines.get(ns, prm.metadata.name),
        status: structuredClone(prm.status ?? {}),
        conditions: structuredClone(prm.status?.conditions ?? []),
        who,
        claimant,
        held: !!who && holds(claimant, prm),
        returning: who ? undefined : returningAfterOf(prm.metadata.annotations),
      };
    },
    // A failed write of a phase is retried before any status is written: the status would
    // otherwise report a release or claim change that did not happen.
    statusOnFailure: false,
    normal: [legacy(d), duplicate(d), returned(d), release(d), releasedShown(d), conditions(d), facts(d)],
    setStatus: (s) => {
      if (s.wroteMetadata) return;
      setPoolFields(s.status, s.prm, poolPhaseOf(s.prm, s.claimant), s.who);
      setHostKey(s.status, s.prm, fingerprint);
      s.status = finalPoolStatus(s.status, s.conditions);
    },
    writeStatus: async (s) => {
      if (s.wroteMetadata) return undefined;
      // Against the freshest copy (a claim written here may be newer than the cache).
      const patch = mergePatch(s.prm.status ?? {}, s.status);
      if (patch === undefined) return undefined;
      ctx.log.with({ pooledRemoteMachine: s.key }).debug("status patch", { patch });
      try {
        const res = await ctx.api.patch<PRM>(
          R.pooledRemoteMachines,
          s.ns,
          s.prm.metadata.name,
          { metadata: { resourceVersion: s.prm.metadata.resourceVersion }, status: patch },
          "merge",
          "status",
        );
        written.noteWritten(s.key, res);
      } catch (e) {
        // Changed by someone else since: the retry starts from the cache, unless the overlay holds
        // a claim or release the cache does not show yet (forgetting it could let the claimant
        // claim a second machine).
        if (isConflict(e) && claimantName(written.peek(s.key) ?? s.prm) === claimantName(s.cached ?? s.prm))
          written.forget(s.key);
        if (!isNotFound(e)) throw e;
      }
      return undefined;
    },
  });
}
