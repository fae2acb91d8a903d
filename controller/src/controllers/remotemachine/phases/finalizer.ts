/**
 * Our finalizer, written with the first record that something will happen on a machine, in the
 * same write: a RemoteMachine taking from a pool gets it with the record of its claim
 * (phases/pool.ts), one bootstrapped over SSH with the record of its start (writes.ts), or
 * before following a run found on the machine. Until then nothing ran anywhere and there is
 * nothing to clean up (a RemoteMachine deleted while it waits goes at once), and a provisioning
 * costs one write fewer. A run through a Job, or an object that already shows a start or a
 * provider ID, gets it here, before any phase.
 */
import { REMOTE_MACHINE_FINALIZER, RemoteAnnotations } from "@capi-remote/shared";
import { R } from "../../../kube/api.js";
import { finalizerOps } from "../../../kube/patch.js";
import { finalizerHandOver, hasK0smotronFinalizer } from "../../../migration/k0smotron.js";
import type { Deps } from "../deps.js";
import type { RM } from "../scope.js";
import { guardedOps } from "../writes.js";

/** Adds our finalizer when due; returns the object as written (with the status it had). */
export async function ensureFinalizer(d: Deps, rm: RM): Promise<RM> {
  const claimPending = !!rm.spec.pool && !rm.metadata.annotations?.[RemoteAnnotations.PoolMachine];
  const untouched =
    !rm.spec.provisionJob &&
    !rm.spec.providerID &&
    !rm.metadata.annotations?.[RemoteAnnotations.BootstrapStarted] &&
    !rm.status?.initialization?.provisioned;
  // Taken over from k0smotron: our finalizer in place of its own, in one guarded write.
  const handOver = hasK0smotronFinalizer(rm) ? finalizerHandOver(rm) : undefined;
  let ops: unknown[] | undefined = handOver;
  if (!ops && !rm.metadata.finalizers?.includes(REMOTE_MACHINE_FINALIZER) && !claimPending && !untouched)
    // Appended to an existing list; creating the list is guarded by a `test` of the
    // resourceVersion (guardedOps): it would otherwise replace a finalizer another writer added.
    ops = guardedOps(rm, finalizerOps(rm.metadata.finalizers ?? [], REMOTE_MACHINE_FINALIZER));
  if (!ops) return rm;
  const res = await d.ctx.api.patch<RM>(R.remoteMachines, rm.metadata.namespace, rm.metadata.name, ops, "json");
  // Carry on in the same pass from the new resourceVersion, so the status write at the end does
  // not conflict with our own finalizer write.
  const written = { ...res, status: rm.status };
  d.mem.written.noteWritten(`${rm.metadata.namespace}/${rm.metadata.name}`, written);
  return written;
}
