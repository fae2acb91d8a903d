/**
 * Provisioning over SSH: starts the bootstrap task once (exactly once per machine: the start
 * record is written by the task before the run, see writes.ts), then observes it on each pass
 * (host key, step, outcome). A failure that a retry may fix waits behind a retry gate that only
 * time or a changed input opens; a terminal one is recorded and never retried. The gate and the
 * count of failures behind it are also kept on the object (retries.ts), so a restarted
 * controller goes on with the backoff instead of retrying at once from the first delay.
 */
import {
  ConditionType,
  DEFAULT_BOOTSTRAP_TIMEOUT_SECONDS,
  DEFAULT_COMMAND_TIMEOUT_SECONDS,
  DEFAULT_WORKING_DIR,
  Reason,
  RemoteAnnotations,
} from "@capi-remote/shared";
import { stateDirFor } from "../../../host/protocol.js";
import { R } from "../../../kube/api.js";
import type { Phase, PhaseResult } from "../../../runtime/reconciler.js";
import { fingerprint } from "../../../ssh/hostkeys.js";
import { block, condition, type Deps, logOf, sshTarget, targetOf } from "../deps.js";
import { formatRetry, inputsDigest, readRetry } from "../retries.js";
import type { RM, Scope } from "../scope.js";
import { hostKeySource, progressOf, setBootstrapRunning } from "../status.js";
import { recordAttach, recordStart } from "../writes.js";
import { failTerminally, succeed } from "./outcome.js";

/** Backoff caps: a host that is down comes back by itself (retry soon); a bad key needs a person. */
const UNREACHABLE_MAX_DELAY_MS = 5_000;
const NEEDS_USER_MAX_DELAY_MS = 300_000;

type Task = NonNullable<ReturnType<Deps["ctx"]["tasks"]["get"]>>;

export const provision = (d: Deps): Phase<Scope> => ({
  name: "provision",
  when: (s) => !s.rebuilt && !s.rm.spec.provisionJob,
  run: async (s) => {
    const task = d.ctx.tasks.get(s.key);
    const inputs = inputsOf(d, s);
    const gate = task ? undefined : (d.mem.retryGate.get(s.key) ?? restoredGate(d, s));
    if (gate && gate.inputs === inputs && Date.now() < gate.at) {
      // Say it again: the write that first reported it may have lost a race with another write.
      condition(d, s, ConditionType.HostReachable, "False", gate.reason, gate.message);
      block(s, gate.reason, gate.message);
      // Come back when the gate opens (a timer may fire a little early, or this run may be due
      // to an unrelated event): never leave a failing machine without a scheduled retry.
      return { stop: true, requeueAfterMs: gate.at - Date.now() + 50 };
    }
    if (!task) return await start(d, s);
    if (task.hostKey) s.status.hostKey = { fingerprint: fingerprint(task.hostKey), source: hostKeySource(s.rm.spec) };
    if (task.running) return running(d, s, task);
    return finished(d, s, task, inputs);
  },
});

/** Our own pacing records: writing them must not count as a changed input. */
const PACING = new Set<string>([RemoteAnnotations.BootstrapRetry, RemoteAnnotations.CleanupAttempts]);

/**
 * What a new attempt could see differently: the object's spec and annotations, and its Secrets
 * (a digest, as the object keeps it).
 */
function inputsOf(d: Deps, s: Scope): string {
  const ns = s.rm.metadata.namespace ?? "";
  const rv = (name: string | undefined) => (name ? d.ctx.secrets.version(ns, name) : undefined) ?? "-";
  const annotations = Object.entries(s.rm.metadata.annotations ?? {}).filter(([k]) => !PACING.has(k));
  return inputsDigest(
    [
      s.rm.metadata.generation,
      JSON.stringify(annotations),
      rv(s.rm.spec.sshKeyRef?.name),
      rv(s.rm.spec.hostKeysSecretRef?.name),
      rv(s.rm.spec.bastion?.sshKeyRef.name),
      s.data?.resourceVersion,
    ].join("|"),
  );
}

/**
 * The gate a controller before this one closed (read back from the object after a restart):
 * shut until its time, with the reason and message the status still shows.
 */
function restoredGate(d: Deps, s: Scope) {
  const r = readRetry(
    s.rm.metadata.annotations?.[RemoteAnnotations.BootstrapRetry],
    Date.now(),
    NEEDS_USER_MAX_DELAY_MS,
  );
  if (!r?.inputs || r.notBefore <= Date.now()) return undefined;
  const shown = s.conditions.find((c) => c.type === ConditionType.HostReachable && c.status === "False");
  const gate = {
    at: r.notBefore,
    inputs: r.inputs,
    reason: shown?.reason ?? Reason.HostUnreachable,
    message: shown?.message ?? `attempt ${r.attempts} failed`,
  };
  d.mem.retryGate.set(s.key, gate);
  return gate;
}

/**
 * While a new attempt is still connecting, Ready keeps saying what failed last time (a retry
 * of a bad key is not "running"); only a connection that succeeds changes it.
 */
function blockConnecting(s: Scope): PhaseResult {
  const hr = s.conditions.find((c) => c.type === ConditionType.HostReachable);
  if (hr?.status === "False") return block(s, hr.reason ?? Reason.HostUnreachable, hr.message ?? "");
  return block(s, Reason.BootstrapRunning, "connecting");
}

async function start(d: Deps, s: Scope): Promise<PhaseResult> {
  const { rm } = s;
  const ns = rm.metadata.namespace ?? "";
  d.mem.retryGate.delete(s.key);
  const t = await sshTarget(d, s);
  if ("reason" in t) {
    condition(d, s, ConditionType.HostReachable, "False", t.reason, t.message, "Warning");
    return block(s, t.reason, t.message);
  }
  const spec = rm.spec;
  logOf(d, s).info("starting the bootstrap task", { warmConnection: d.ctx.hosts.isWarm(s.key) });
  const bootstrap = d.ctx.hosts.bootstrap(s.key, {
    target: t.target,
    useSudo: spec.useSudo ?? false,
    workingDir: spec.workingDir ?? DEFAULT_WORKING_DIR,
    commandsAsScript: spec.commandsAsScript ?? false,
    data: { value: s.data?.value ?? "", format: s.data?.format },
    stateDir: stateDirFor(ns, rm.metadata.name),
    owner: s.key,
    commandTimeoutSeconds: spec.timeouts?.commandSeconds ?? DEFAULT_COMMAND_TIMEOUT_SECONDS,
    bootstrapTimeoutMs: (spec.timeouts?.bootstrapSeconds ?? DEFAULT_BOOTSTRAP_TIMEOUT_SECONDS) * 1000,
    uid: rm.metadata.uid ?? "",
    startStamp: rm.metadata.annotations?.[RemoteAnnotations.BootstrapStarted],
    // Plain functions of (namespace, name): they run after this pass has returned, so they
    // start from the freshest copy and guard their writes (writes.ts).
    attach: (hostKey) => recordAttach(d.writes, ns, rm.metadata.name, hostKey),
    markStarted: (hostKey, stamp) => recordStart(d.writes, ns, rm.metadata.name, hostKey, stamp),
  });
  d.ctx.tasks.start(s.key, "bootstrap", bootstrap);
  // No Event for the start (the condition and the bootstrap-started annotation say it): the
  // Events of a provisioning are its outcome, and failures, each a write of its own.
  condition(d, s, ConditionType.BootstrapExecSucceeded, "False", Reason.BootstrapRunning, "connecting");
  logOf(d, s).info("bootstrap starting");
  // "Connecting" waits: written now, it would race the task's start record (an API write on
  // the same object) and delay the run it guards; a moment later it usually says which step
  // runs instead (see `running`).
  s.holdStatusMs = d.connectingHoldMs;
  return blockConnecting(s);
}

function running(d: Deps, s: Scope, task: Task): PhaseResult {
  const progress = progressOf(task);
  if (task.hostKey) condition(d, s, ConditionType.HostReachable, "True", Reason.Connected);
  setBootstrapRunning(s.status, task);
  condition(d, s, ConditionType.BootstrapExecSucceeded, "False", Reason.BootstrapRunning, progress);
  // "Connecting" is news only if it lasts: the first step usually follows within a moment and
  // the first write then says which step runs (one write per machine fewer, and one Machine
  // update fewer by Cluster API).
  if (!task.step) s.holdStatusMs = Math.max(0, d.connectingHoldMs - (Date.now() - task.startedAt.getTime()));
  return task.hostKey ? block(s, Reason.BootstrapRunning, progress) : blockConnecting(s);
}

async function finished(d: Deps, s: Scope, task: Task, inputs: string): Promise<PhaseResult | undefined> {
  // A finished task stays until the cache shows its outcome (provisioned or failed), so a
  // reconcile of a stale copy can never start the bootstrap again.
  if (!task.ok && !task.failure?.terminal) d.ctx.tasks.clear(s.key);
  if (task.ok) {
    if (task.ignoredKeys?.length) {
      const keys = task.ignoredKeys.join(", ");
      void d.ctx.events.emit(
        targetOf(s),
        "Warning",
        "IgnoredCloudConfigKeys",
        `cloud-config keys not carried out: ${keys}`,
      );
    }
    condition(d, s, ConditionType.HostReachable, "True", Reason.Connected);
    // The host answered a moment ago; health probes take over from here (phases/health.ts).
    if (d.ctx.health?.enabled) condition(d, s, ConditionType.HostHealthy, "True", Reason.HostResponding);
    await succeed(d, s, task.hostname, task.finishedAt, task.steps);
    // In the same pass (and so the same status write): the Node, if it has registered already.
    s.checkNode = true;
    return undefined;
  }
  const f = task.failure ?? { reason: Reason.BootstrapFailed, message: "unknown failure", terminal: false };
  if (f.terminal) return failTerminally(d, s, f.reason, f.message, task.finishedAt, task.exitCode);
  const message =
    f.reason === Reason.HostKeyMismatch && f.presentedKey
      ? `${f.message}: it presented ${fingerprint(f.presentedKey)}`
      : f.message;
  condition(d, s, ConditionType.HostReachable, "False", f.reason, message, "Warning");
  const cap = f.reason === Reason.HostUnreachable ? UNREACHABLE_MAX_DELAY_MS : NEEDS_USER_MAX_DELAY_MS;
  const key = RemoteAnnotations.BootstrapRetry;
  const before = readRetry(s.rm.metadata.annotations?.[key], Date.now(), NEEDS_USER_MAX_DELAY_MS)?.attempts ?? 0;
  const delay = d.ctx.queue.addRateLimited(s.key, cap, before);
  const at = Date.now() + delay;
  d.mem.retryGate.set(s.key, { at, inputs, reason: f.reason, message });
  // A failure path only (one metadata write): a success removes the record in its own write.
  const record = formatRetry({ attempts: before + 1, notBefore: at, inputs });
  const res = await d.ctx.api.patch<RM>(R.remoteMachines, s.rm.metadata.namespace, s.rm.metadata.name, {
    metadata: { annotations: { [key]: record } },
  });
  s.rm = { ...res, status: s.rm.status };
  logOf(d, s).info("cannot bootstrap yet; retrying", { reason: f.reason, retryInMs: delay, attempt: before + 1 });
  return block(s, f.reason, message);
}
