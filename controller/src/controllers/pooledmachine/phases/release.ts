/**
 * A release request (the release annotation) carried out, then removed: a quarantined machine's
 * cleanup retried, a stale claim cleared, a machine in use retired through Cluster API (our delete
 * path cleans it up and returns it), or a machine waiting for its Machine's deletion returned at
 * once. The outcome is remembered until the status shows it (see Memory.released).
 */
import {
  ConditionType,
  claimantName,
  formatTime,
  holds,
  PoolAnnotations,
  type QuarantineRecord,
  quarantineOf,
  Reason,
  RemoteAnnotations,
  returningAfterOf,
} from "@capi-remote/shared";
import { isNotFound, R } from "../../../kube/api.js";
import type { Phase } from "../../../runtime/reconciler.js";
import { ownerMismatch } from "../../../security/ownership.js";
import { releaseCleanup } from "../../../security/quarantine.js";
import { readSshTarget } from "../../../security/sshtarget.js";
import { type CondStatus, condition, type Deps, taskKey } from "../deps.js";
import type { Scope } from "../scope.js";

const requested = (s: Scope) => s.prm.metadata.annotations?.[PoolAnnotations.Release] !== undefined;

/** Released: sets the condition and remembers it until the status shows it. */
function released(d: Deps, s: Scope, st: CondStatus, reason: string, message: string, event?: "Normal" | "Warning") {
  condition(d, s, ConditionType.Released, st, reason, message, event);
  d.mem.released.set(s.key, { status: st, reason, message });
}

/** Removes the request (and whatever else `extra` clears or sets). */
async function done(d: Deps, s: Scope, extra: Record<string, string | null> = {}): Promise<void> {
  await d.ctx.api.patch(R.pooledRemoteMachines, s.ns, s.prm.metadata.name, {
    metadata: { annotations: { [PoolAnnotations.Release]: null, ...extra } },
  });
}

export const release = (d: Deps): Phase<Scope> => ({
  name: "release",
  when: requested,
  run: async (s) => {
    const { who, held, claimant } = s;
    // A quarantine record on a claimed machine is not ours (a quarantine ends the claim in the
    // same write): the machine is in use, and nothing is run on it for an annotation.
    const q = who ? undefined : quarantineOf(s.prm.metadata.annotations);
    if (q) await retryCleanup(d, s, q);
    else if (who && !held) await clearStale(d, s, who);
    else if (who && held && claimant) await retire(d, s);
    else {
      const returning = returningAfterOf(s.prm.metadata.annotations);
      if (returning) {
        await done(d, s, { [PoolAnnotations.ReturningAfter]: null });
        const message = `returned to the pool without waiting for Machine ${returning.machine} to be deleted`;
        released(d, s, "True", Reason.StaleClaimCleared, message, "Normal");
      } else {
        await done(d, s);
        released(d, s, "True", Reason.NothingToRelease, "the machine was not claimed", "Normal");
      }
    }
    return undefined;
  },
});

/** No request: the outcome of the last release is said again until the cache shows it. */
export const releasedShown = (d: Deps): Phase<Scope> => ({
  name: "releasedShown",
  when: (s) => !requested(s) && d.mem.released.has(s.key),
  run: (s) => {
    const last = d.mem.released.get(s.key);
    if (!last) return undefined;
    const shown = s.cached?.status?.conditions?.find((c) => c.type === ConditionType.Released);
    if (shown?.reason === last.reason && shown.message === last.message) d.mem.released.delete(s.key);
    else condition(d, s, ConditionType.Released, last.status, last.reason, last.message);
    return undefined;
  },
});

/** Retries the cleanup that failed; the machine comes back only if it succeeds. */
async function retryCleanup(d: Deps, s: Scope, q: QuarantineRecord): Promise<void> {
  const { prm, ns } = s;
  const tkey = taskKey(s.key, "release");
  const task = d.ctx.tasks.get(tkey);
  if (!task) {
    const t = await readSshTarget(
      d.ctx.secrets,
      ns,
      prm.spec.machine,
      prm.metadata.annotations?.[RemoteAnnotations.HostKey],
    );
    if ("reason" in t) {
      released(d, s, "False", Reason.ReleaseFailed, `cannot retry the cleanup: ${t.message}`, "Warning");
      await done(d, s);
      return;
    }
    // Never the record's commands or paths: see security/quarantine.ts.
    const { commands, stateDir } = releaseCleanup(ns, prm.spec.machine, q);
    const cleanup = d.ctx.hosts.cleanup({
      target: t.target,
      useSudo: prm.spec.machine.useSudo ?? false,
      commands,
      stateDir,
      commandTimeoutMs: (prm.spec.machine.timeouts?.commandSeconds ?? 300) * 1000,
    });
    d.ctx.tasks.start(tkey, "cleanup", cleanup);
    const message = `retrying the cleanup (${commands.length} commands)`;
    released(d, s, "Unknown", Reason.CleanupRunning, message, "Normal");
    return;
  }
  if (task.running) return;
  d.ctx.tasks.clear(tkey);
  if (task.ok) {
    await done(d, s, { [PoolAnnotations.Quarantined]: null });
    const message = "the cleanup succeeded; the machine is back in the pool";
    released(d, s, "True", Reason.QuarantineLifted, message, "Normal");
    return;
  }
  const undone = task.leftUndone?.length
    ? `left undone: ${task.leftUndone.join("; ")}`
    : (task.failure?.message ?? "failed");
  await done(d, s, {
    [PoolAnnotations.Quarantined]: JSON.stringify({
      ...q,
      message: `cleanup retried on release and failed (${undone})`,
      since: formatTime(d.ctx.now()),
    }),
  });
  const message = `the cleanup failed again (${undone}); still quarantined`;
  released(d, s, "False", Reason.ReleaseFailed, message, "Warning");
}

/** The claimant is gone: its claim is cleared (compare-and-swap). */
async function clearStale(d: Deps, s: Scope, who: string): Promise<void> {
  const cleared = await d.ctx.pools.clearClaim(
    s.prm,
    (o) => claimantName(o) === who && !holds(d.ctx.inf.remoteMachines.get(s.ns, who), o),
  );
  if (!cleared) return;
  await done(d, s);
  const message = `cleared the claim of RemoteMachine ${who}, which no longer exists`;
  released(d, s, "True", Reason.StaleClaimCleared, message, "Normal");
}

/**
 * In use: retired from its cluster through Cluster API; our delete path cleans it up and
 * returns it (cordoned machines stay out).
 */
async function retire(d: Deps, s: Scope): Promise<void> {
  const { ns, prm } = s;
  const claimant = s.claimant as NonNullable<Scope["claimant"]>;
  const owner = claimant.metadata.ownerReferences?.find((o) => o.kind === "Machine");
  const named = owner ? d.ctx.inf.machines.get(ns, owner.name) : undefined;
  // Only the Machine that names the claimant as its infrastructure is retired: an owner
  // reference alone could name any Machine of the namespace (a control-plane Machine).
  const machine =
    named && !ownerMismatch({ kind: "RemoteMachine", metadata: claimant.metadata }, named, owner) ? named : undefined;
  const ignoreGone = (e: unknown) => {
    if (!isNotFound(e)) throw e;
  };
  let what: string;
  if (machine) {
    if (!machine.metadata.deletionTimestamp)
      await d.ctx.api.delete(R.machines, ns, machine.metadata.name).catch(ignoreGone);
    what = `deleted Machine ${machine.metadata.name} of Cluster ${machine.spec.clusterName} (its node is drained); the machine returns ${prm.spec.cordoned ? "cordoned" : "to the pool"} after its cleanup`;
  } else {
    if (!claimant.metadata.deletionTimestamp)
      await d.ctx.api.delete(R.remoteMachines, ns, claimant.metadata.name).catch(ignoreGone);
    what = `deleted RemoteMachine ${claimant.metadata.name} (it has no Machine); the machine returns after its cleanup`;
  }
  await done(d, s);
  released(d, s, "True", Reason.MachineRetired, what, "Normal");
}
