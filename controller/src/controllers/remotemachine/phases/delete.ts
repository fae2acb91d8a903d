/**
 * Deletion: stop what runs for the machine, clean it up over SSH (only on the host that was
 * provisioned, a bounded number of attempts), settle the pool machine it held (back to the pool,
 * or quarantined when the cleanup did not happen), then remove the finalizer. The attempts and
 * the wait before the next are kept on the object (retries.ts): a restart goes on counting.
 */
import { ConditionType, cleanUpCommandsOf, Reason, RemoteAnnotations } from "@capi-remote/shared";
import { bootstrapFacts, cleanupCommands } from "../../../cleanup/sequence.js";
import { stateDirFor } from "../../../host/protocol.js";
import { R } from "../../../kube/api.js";
import { secretValue } from "../../../kube/objects.js";
import { finalizerHandOver, ownsDeletion } from "../../../migration/k0smotron.js";
import type { Phase, PhaseResult } from "../../../runtime/reconciler.js";
import { connectionChanged } from "../../../security/connection.js";
import { ownerMismatch } from "../../../security/ownership.js";
import { condition, type Deps, jsonPatch, logOf, ownerRef, secretOf, sshTarget, targetOf } from "../deps.js";
import { formatRetry, readRetry } from "../retries.js";
import type { RM, Scope } from "../scope.js";
import { cleanupKind, settlePool } from "./settlepool.js";

const CLEANUP_ATTEMPTS = 3;
/** The wait after attempt n (1-based) is 2 s * 3^(n-1); the longest is before the last attempt. */
const cleanupDelayMs = (attempts: number) => 2000 * 3 ** (attempts - 1);
const MAX_CLEANUP_WAIT_MS = cleanupDelayMs(CLEANUP_ATTEMPTS - 1);

/** Ours (or k0smotron's on an object whose deletion began before the switch): stop its tasks. */
export const stopTasks = (d: Deps): Phase<Scope> => ({
  name: "stopTasks",
  run: (s) => {
    if (!ownsDeletion(s.rm)) return { stop: true };
    const owned = ownerRef(s.rm);
    const m = owned ? d.ctx.inf.machines.get(s.rm.metadata.namespace ?? "", owned.name) : undefined;
    s.machine = m && !ownerMismatch({ kind: "RemoteMachine", metadata: s.rm.metadata }, m, owned) ? m : undefined;
    d.ctx.hosts.dropWarm(s.key);
    d.ctx.health?.forget(s.key);
    if (d.ctx.tasks.get(s.key)?.kind === "bootstrap") d.ctx.tasks.cancel(s.key);
    s.blocker = { reason: Reason.Deleting, message: "cleaning up" };
    return undefined;
  },
});

/** Runs the cleanup (or says why not); sets `s.release` once the finalizer may go. */
export const cleanup = (d: Deps): Phase<Scope> => ({
  name: "cleanup",
  run: async (s) => {
    const { rm } = s;
    const touched = !!rm.spec.providerID || !!rm.metadata.annotations?.[RemoteAnnotations.BootstrapStarted];
    if (!touched || !rm.spec.address) {
      s.release = { note: "nothing ran on the machine" };
      return undefined;
    }
    if (d.mem.cleanedUp.has(s.key)) {
      s.release = {};
      return undefined;
    }
    const task = d.ctx.tasks.get(s.key);
    const now = d.ctx.now().getTime();
    const before = readRetry(s.rm.metadata.annotations?.[RemoteAnnotations.CleanupAttempts], now, MAX_CLEANUP_WAIT_MS);
    // After a failed attempt (by this process or the one before a restart): not before its time.
    if (!task && before && now < before.notBefore) return { stop: true, requeueAfterMs: before.notBefore - now + 50 };
    if (task?.running) return { stop: true };
    const commands = await commandsOf(d, s);
    if (!task) return startCleanup(d, s, commands);
    d.ctx.tasks.clear(s.key);
    if (task.ok) {
      condition(d, s, ConditionType.CleanupSucceeded, "True", Reason.CleanupSucceeded, "", "Normal");
      d.mem.cleanedUp.add(s.key);
      s.release = {};
      return undefined;
    }
    const attempts = Math.max(d.mem.cleanupAttempts.get(s.key) ?? 0, before?.attempts ?? 0) + 1;
    d.mem.cleanupAttempts.set(s.key, attempts);
    const what = task.failure?.message ?? "cleanup failed";
    if (attempts < CLEANUP_ATTEMPTS) {
      const message = `attempt ${attempts} of ${CLEANUP_ATTEMPTS}: ${what}`;
      condition(d, s, ConditionType.CleanupSucceeded, "False", Reason.CleanupFailed, message, "Warning");
      const delay = cleanupDelayMs(attempts);
      const record = formatRetry({ attempts, notBefore: now + delay });
      const res = await d.ctx.api.patch<RM>(R.remoteMachines, s.rm.metadata.namespace, s.rm.metadata.name, {
        metadata: { annotations: { [RemoteAnnotations.CleanupAttempts]: record } },
      });
      s.rm = { ...res, status: s.rm.status };
      return { stop: true, requeueAfterMs: delay };
    }
    const undone = task.leftUndone?.length ? `left undone: ${task.leftUndone.join("; ")}` : what;
    const message = `cleanup gave up after ${CLEANUP_ATTEMPTS} attempts (${undone})`;
    s.release = { failed: { reason: Reason.CleanupFailed, message, commands }, warning: message };
    return undefined;
  },
});

/** The cleanup commands; the bootstrap data, when k0s's sequence needs it, is planned off the event loop. */
async function commandsOf(d: Deps, s: Scope): Promise<string[]> {
  const custom = cleanUpCommandsOf(s.rm.spec);
  const kind = cleanupKind(s);
  const dataSecret = await secretOf(d, s.rm.metadata.namespace ?? "", s.machine?.spec.bootstrap?.dataSecretName);
  const value = secretValue(dataSecret, "value");
  const needsData = !custom && (kind === "k0s" || kind === "k0s-controller") && value !== undefined;
  const facts = needsData ? await bootstrapFacts({ value, format: secretValue(dataSecret, "format") }) : undefined;
  return cleanupCommands({ kind, ...(custom ? { custom } : {}), ...(facts ? { facts } : {}) });
}

/** The holder's bootstrap data, when its Secret is still there (ssh/scrub.ts). */
async function scrubOf(d: Deps, s: Scope): Promise<{ scrub?: { value: string; format?: string } }> {
  const dataSecret = await secretOf(d, s.rm.metadata.namespace ?? "", s.machine?.spec.bootstrap?.dataSecretName);
  const value = secretValue(dataSecret, "value");
  return value === undefined ? {} : { scrub: { value, format: secretValue(dataSecret, "format") } };
}

async function startCleanup(d: Deps, s: Scope, commands: string[]): Promise<PhaseResult | undefined> {
  const { rm } = s;
  const held = rm.spec.pool ? d.ctx.pools.heldBy(rm) : undefined;
  const changed = connectionChanged(
    rm.spec,
    held ? { name: held.metadata.name, machine: held.spec.machine } : undefined,
  );
  if (changed) {
    // Root commands go only to the host that was provisioned; a pool machine is quarantined.
    const message = `cleanup skipped: ${changed}`;
    condition(d, s, ConditionType.CleanupSucceeded, "False", Reason.ConnectionChanged, message, "Warning");
    s.release = { failed: { reason: Reason.ConnectionChanged, message, commands }, warning: message };
    return undefined;
  }
  const t = await sshTarget(d, s);
  if ("reason" in t) {
    const message = `cleanup skipped: ${t.message}`;
    s.release = { failed: { reason: Reason.CleanupSkipped, message, commands }, warning: message };
    return undefined;
  }
  // Waits for a cancelled bootstrap of the key to end first (tasks/taskmanager.ts).
  const cleanup = d.ctx.hosts.cleanup({
    target: t.target,
    useSudo: rm.spec.useSudo ?? false,
    commands,
    stateDir: stateDirFor(rm.metadata.namespace ?? "", rm.metadata.name),
    commandTimeoutMs: (rm.spec.timeouts?.commandSeconds ?? 300) * 1000,
    // A pool machine goes to another holder: the files this one's data wrote go first.
    ...(rm.spec.pool ? await scrubOf(d, s) : {}),
  });
  d.ctx.tasks.start(s.key, "cleanup", cleanup);
  const message = `running ${commands.length} cleanup commands`;
  condition(d, s, ConditionType.CleanupSucceeded, "False", Reason.CleanupRunning, message, "Normal");
  return { stop: true };
}

/** On deletion, before the finalizer goes: the held pool machine returns or is quarantined. */
export const settle = (d: Deps): Phase<Scope> => ({
  name: "settlePool",
  when: (s) => !!s.release,
  run: async (s) => {
    await settlePool(d, s, s.release?.failed);
    return undefined;
  },
});

export const removeFinalizer = (d: Deps): Phase<Scope> => ({
  name: "removeFinalizer",
  when: (s) => !!s.release,
  run: async (s) => {
    const { note, warning } = s.release ?? {};
    if (warning) void d.ctx.events.emit(targetOf(s), "Warning", Reason.CleanupFailed, warning);
    else if (note) logOf(d, s).info("removing finalizer", { note });
    d.mem.cleanupAttempts.delete(s.key);
    // Ours and k0smotron's (a deletion it began, or an object never reconciled since the switch).
    const ops = finalizerHandOver(s.rm, false);
    if (ops) await jsonPatch(d, s, ops);
    d.mem.cleanedUp.delete(s.key);
    return undefined;
  },
});
