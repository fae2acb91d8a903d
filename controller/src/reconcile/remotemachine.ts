/**
 * The RemoteMachine reconcile, in Cluster API's shape: get the object, ensure the finalizer,
 * stop when paused, then run the normal or the delete phases; status is computed from what was
 * observed and patched once at the end.
 */
import {
  CAPI_GROUP,
  type Condition,
  ConditionType,
  claimantName,
  cleanUpCommandsOf,
  countPool,
  DEFAULT_BOOTSTRAP_TIMEOUT_SECONDS,
  DEFAULT_COMMAND_TIMEOUT_SECONDS,
  DEFAULT_SSH_PORT,
  DEFAULT_WORKING_DIR,
  fitToSchema,
  formatProviderID,
  isClusterInfrastructureProvisioned,
  isPaused,
  type Machine,
  poolPhaseOf,
  REMOTE_MACHINE_FINALIZER,
  Reason,
  RemoteAnnotations,
  type RemoteMachine,
  type RemoteMachineStatus,
  RemoteMachineStatusSchema,
  referenceOf,
  setCondition,
} from "@capi-remote/shared";
import { cleanupCommands } from "../cleanup/sequence.js";
import { BootstrapDataError, type Plan, planBootstrap } from "../cloudinit/plan.js";
import { statusUrgent } from "../controllers/remotemachine/status.js";
import { guardedOps, recordAttach, recordStart, type WriteDeps } from "../controllers/remotemachine/writes.js";
import { stateDirFor } from "../host/protocol.js";
import { ApiError, isConflict, isNotFound, R } from "../kube/api.js";
import { withSpecDefaults } from "../migration/defaults.js";
import {
  finalizerHandOver,
  hasK0smotronFinalizer,
  ownsDeletion,
  poolMachineAnnotationOps,
  provisionedBefore,
} from "../migration/k0smotron.js";
import { claimPatch, machineMetadataPatch, propagatedMetadata } from "../pool/copy.js";
import { FreshCache } from "../runtime/fresh.js";
import { StatusWriter } from "../runtime/statuswriter.js";
import { connectionChanged } from "../security/connection.js";
import { ownerMismatch } from "../security/ownership.js";
import { type CleanupKind, cleanupKindOf } from "../security/quarantine.js";
import { fingerprint } from "../ssh/hostkeys.js";
import { type Ctx, type Named, type Secret, secretValue } from "./context.js";
import { annotationOps, finalizerOps, mergePatch } from "./diff.js";
import { matchNode } from "./nodes.js";
import {
  type Job,
  jobName,
  jobOutcome,
  jobPolicyViolation,
  ownedBy,
  provisionJob,
  provisionScript,
  provisionSecret,
} from "./provisionjob.js";
import { sshTargetFor } from "./sshtarget.js";

type RM = RemoteMachine & Named;
type Result = { requeueAfterMs?: number } | undefined;

/** Backoff caps: a host that is down comes back by itself (retry soon); a bad key needs a person. */
const UNREACHABLE_MAX_DELAY_MS = 5_000;
const NEEDS_USER_MAX_DELAY_MS = 300_000;
const CLEANUP_ATTEMPTS = 3;

interface Scope {
  key: string;
  rm: RM;
  status: RemoteMachineStatus;
  conditions: Condition[];
  machine?: Machine & Named;
  /** Ready's reason and message when not provisioned. */
  blocker?: { reason: string; message: string };
  /** Condition types set in this pass (stamped with the final generation before the write). */
  set: Set<string>;
  /** Hold a non-urgent status write back this long (a bootstrap's start record is in flight). */
  holdStatusMs?: number;
}

const PROVISIONED_REASONS = new Set<string>([Reason.Provisioned]);

export class RemoteMachineReconciler {
  private readonly cleanupAttempts = new Map<string, number>();
  /** Cleanups that succeeded, so that a retried finalizer removal does not clean up again. */
  private readonly cleanedUp = new Set<string>();
  /**
   * After a failed attempt, no new attempt before `at` unless an input changed (the object's
   * spec or annotations, or a Secret it uses): our own status writes must not cause retries.
   */
  private readonly retryGate = new Map<string, { at: number; inputs: string; reason: string; message: string }>();

  /**
   * Status computed but not written yet (see patchStatus): the next pass starts from it, so
   * nothing a deferred pass found is lost.
   */
  private readonly pendingStatus = new Map<string, RemoteMachineStatus>();
  /**
   * Provider IDs handed to Nodes ("ns/cluster/node/uid"), so a lagging Node cache does not resend
   * them. By uid: a pool machine reused at once re-registers its Node under the same name and,
   * at the same address, needs the same provider ID again.
   */
  private readonly nodeHandOffs = new Map<string, { providerID: string; at: number }>();
  /** Our own writes, until the informer cache shows them (see FreshCache). */
  private readonly written = new FreshCache<RM>();

  private noteWritten(key: string, obj: RM): void {
    this.written.noteWritten(key, obj);
  }

  /** What the start record and attach writes need (controllers/remotemachine/writes.ts). */
  private readonly writeDeps: WriteDeps;

  /** When status reaches the API server (runtime/statuswriter.ts). */
  private readonly writer: StatusWriter;

  constructor(
    private readonly ctx: Ctx,
    /** How long "connecting" may last before it is written (the first step usually follows). */
    private readonly connectingHoldMs = 5_000,
    writer?: StatusWriter,
  ) {
    this.writer = writer ?? new StatusWriter((key) => this.ctx.queue.add(key));
    this.writeDeps = {
      api: this.ctx.api,
      current: (ns, name) => this.written.get(`${ns}/${name}`, this.ctx.inf.remoteMachines.get(ns, name)),
      noteWritten: (obj) => this.noteWritten(`${obj.metadata.namespace}/${obj.metadata.name}`, obj),
      now: () => this.ctx.now(),
      priority: (write) => this.writer.starts.run(write),
    };
  }

  async reconcile(key: string): Promise<Result> {
    const [ns, name] = key.split("/") as [string, string];
    const seen = this.written.get(key, this.ctx.inf.remoteMachines.get(ns, name));
    const rm = seen && withSpecDefaults(seen);
    if (!rm) {
      this.ctx.tasks.cancel(key);
      this.cleanupAttempts.delete(key);
      this.retryGate.delete(key);
      this.pendingStatus.delete(key);
      this.writer.forget(key);
      this.written.forget(key);
      return undefined;
    }
    const base = this.pendingStatus.get(key) ?? rm.status ?? {};
    const s: Scope = {
      key,
      rm,
      status: structuredClone(base),
      conditions: structuredClone(base.conditions ?? []),
      set: new Set(),
    };
    let result: Result;
    let deferMs: number | undefined;
    try {
      try {
        result = rm.metadata.deletionTimestamp ? await this.reconcileDelete(s) : await this.reconcileNormal(s);
      } finally {
        deferMs = await this.patchStatus(s);
      }
      // Metadata written in this pass without a status write after it.
      if (s.rm.metadata.resourceVersion !== rm.metadata.resourceVersion && this.written.peek(key) !== s.rm)
        this.noteWritten(key, s.rm);
    } catch (e) {
      // Someone else wrote since: the retry starts from the cache.
      if (isConflict(e) || (e instanceof ApiError && e.status === 422)) this.written.forget(key);
      throw e;
    }
    if (deferMs === undefined) return result;
    return { requeueAfterMs: Math.min(result?.requeueAfterMs ?? Number.POSITIVE_INFINITY, deferMs) };
  }

  // ------------------------------------------------------------------------------------------
  // helpers

  private log(s: Scope) {
    return this.ctx.log.with({ remoteMachine: s.key });
  }

  /** Sets a condition; emits an Event when its status or reason changed. */
  private condition(
    s: Scope,
    type: string,
    status: "True" | "False" | "Unknown",
    reason: string,
    message = "",
    event?: "Normal" | "Warning",
  ) {
    const prev = s.conditions.find((c) => c.type === type);
    s.set.add(type);
    setCondition(
      s.conditions,
      { type, status, reason, message },
      this.ctx.now(),
      s.rm.metadata.generation as number | undefined,
    );
    if (event && (prev?.status !== status || prev?.reason !== reason)) {
      void this.ctx.events.emit(this.target(s), event, reason, message || reason);
    }
  }

  private target(s: Scope) {
    return {
      apiVersion: s.rm.apiVersion,
      kind: "RemoteMachine",
      metadata: s.rm.metadata as Named["metadata"] & { uid?: string },
    };
  }

  /**
   * While a new attempt is still connecting, Ready keeps saying what failed last time (a retry
   * of a bad key is not "running"); only a connection that succeeds changes it.
   */
  private blockConnecting(s: Scope): Result {
    const hr = s.conditions.find((c) => c.type === ConditionType.HostReachable);
    if (hr?.status === "False") return this.block(s, hr.reason ?? Reason.HostUnreachable, hr.message ?? "");
    return this.block(s, Reason.BootstrapRunning, "connecting");
  }

  private block(s: Scope, reason: string, message: string): Result {
    s.blocker = { reason, message };
    return undefined;
  }

  /** Writes the status; returns in how many ms to come back when the write was deferred. */
  private async patchStatus(s: Scope): Promise<number | undefined> {
    const provisioned = s.status.initialization?.provisioned === true;
    if (provisioned) this.condition(s, ConditionType.Ready, "True", Reason.Provisioned);
    else if (s.blocker) this.condition(s, ConditionType.Ready, "False", s.blocker.reason, s.blocker.message);
    else if (!s.conditions.some((c) => c.type === ConditionType.Ready))
      this.condition(s, ConditionType.Ready, "False", Reason.NotProvisioned);
    // A pass may change the spec (a pool machine's fields copied in): what it observed is the
    // final generation, for every condition it set.
    const generation = s.rm.metadata.generation as number | undefined;
    if (generation !== undefined)
      for (const c of s.conditions) if (s.set.has(c.type)) c.observedGeneration = generation;
    s.status.conditions = s.conditions;
    if (!PROVISIONED_REASONS.has(s.conditions.find((c) => c.type === ConditionType.Ready)?.reason ?? "")) {
      s.status.ready = s.status.ready ?? false;
    }
    // Fitted to the schema: host output or a long path in a message must not make the write
    // fail with 422 on every pass (the outcome would never be recorded).
    s.status = fitToSchema(s.status, RemoteMachineStatusSchema);
    const patch = mergePatch(s.rm.status ?? {}, s.status);
    if (patch === undefined) {
      this.pendingStatus.delete(s.key);
      return undefined;
    }
    // runtime/statuswriter.ts decides when (urgent changes at once, progress coalesced).
    const deferMs = this.writer.decide(s.key, {
      urgent: statusUrgent(s.rm.status, s.status, !!s.rm.metadata.deletionTimestamp),
      holdMs: s.holdStatusMs,
    });
    if (deferMs > 0) {
      this.pendingStatus.set(s.key, s.status);
      return deferMs;
    }
    this.log(s).debug("status patch", { patch });
    try {
      // The resourceVersion makes a write computed from a stale cache fail (409) instead of
      // undoing a newer status; the retry then sees the fresh object.
      const res = await this.ctx.api.patch<RM>(
        R.remoteMachines,
        s.rm.metadata.namespace,
        s.rm.metadata.name,
        { metadata: { resourceVersion: s.rm.metadata.resourceVersion }, status: patch },
        "merge",
        "status",
      );
      s.rm = res;
      this.noteWritten(s.key, res);
      this.pendingStatus.delete(s.key);
      this.writer.wrote(s.key);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    return undefined;
  }

  /**
   * Adds or removes our finalizer with a JSON patch: appended to an existing list, or removed
   * after a `test` of its entry, so a concurrent status write does not make it fail. Creating the
   * list is guarded by a `test` of the resourceVersion (guardedOps): it would otherwise replace a
   * finalizer another writer added since our copy.
   */
  private async setFinalizer(s: Scope, present: boolean): Promise<void> {
    const list = s.rm.metadata.finalizers ?? [];
    const i = list.indexOf(REMOTE_MACHINE_FINALIZER);
    const ops = present
      ? guardedOps(s.rm, finalizerOps(list, REMOTE_MACHINE_FINALIZER))
      : [
          { op: "test", path: `/metadata/finalizers/${i}`, value: REMOTE_MACHINE_FINALIZER },
          { op: "remove", path: `/metadata/finalizers/${i}` },
        ];
    const res = await this.ctx.api.patch<RM>(
      R.remoteMachines,
      s.rm.metadata.namespace,
      s.rm.metadata.name,
      ops,
      "json",
    );
    s.rm = { ...res, status: s.rm.status };
  }

  /** A JSON patch of the object's metadata; keeps the new resourceVersion, as setFinalizer does. */
  private async jsonPatch(s: Scope, ops: unknown[]): Promise<void> {
    const res = await this.ctx.api.patch<RM>(
      R.remoteMachines,
      s.rm.metadata.namespace,
      s.rm.metadata.name,
      ops,
      "json",
    );
    s.rm = { ...res, status: s.rm.status };
  }

  private secret(ns: string, name: string | undefined): Secret | undefined {
    return name ? this.ctx.inf.secrets.get(ns, name) : undefined;
  }

  private ownerMachine(s: Scope): { name: string; uid?: string } | undefined {
    return (s.rm.metadata.ownerReferences ?? []).find(
      (o) => o.kind === "Machine" && o.apiVersion.startsWith(`${CAPI_GROUP}/`),
    );
  }

  /** The Machine whose infrastructureRef names this RemoteMachine (before it owns it). */
  private referencingMachine(s: Scope): (Machine & Named) | undefined {
    const ns = s.rm.metadata.namespace;
    return this.ctx.inf.machines.list().find((m) => {
      const ref = referenceOf(m.spec.infrastructureRef);
      return m.metadata.namespace === ns && ref?.kind === "RemoteMachine" && ref.name === s.rm.metadata.name;
    });
  }

  /** The SSH target of the machine, or a reason it cannot be built. */
  private sshTarget(s: Scope) {
    return sshTargetFor(
      (n) => this.secret(s.rm.metadata.namespace ?? "", n),
      s.rm.spec,
      s.rm.metadata.annotations?.[RemoteAnnotations.HostKey],
    );
  }

  // ------------------------------------------------------------------------------------------
  // normal

  private async reconcileNormal(s: Scope): Promise<Result> {
    let rm = s.rm;
    const ns = rm.metadata.namespace ?? "";
    // The finalizer is written with the first record that something will happen on a machine,
    // in the same write: a RemoteMachine taking from a pool gets it with the record of its
    // claim, one bootstrapped over SSH with the record of its start (or before following a run
    // found on the machine). Until then nothing ran anywhere and there is nothing to clean up (a
    // RemoteMachine deleted while it waits goes at once), and a provisioning costs one write
    // fewer. A run through a Job, or an object that already shows a start or a provider ID,
    // gets it first.
    const claimPending = !!rm.spec.pool && !rm.metadata.annotations?.[RemoteAnnotations.PoolMachine];
    const untouched =
      !rm.spec.provisionJob &&
      !rm.spec.providerID &&
      !rm.metadata.annotations?.[RemoteAnnotations.BootstrapStarted] &&
      !rm.status?.initialization?.provisioned;
    const handOver = hasK0smotronFinalizer(rm) ? finalizerHandOver(rm) : undefined;
    if (handOver) {
      // Taken over from k0smotron: our finalizer in place of its own, in one guarded write.
      await this.jsonPatch(s, handOver);
    } else if (!rm.metadata.finalizers?.includes(REMOTE_MACHINE_FINALIZER) && !claimPending && !untouched) {
      // Carry on in the same pass: setFinalizer keeps the new resourceVersion, so the status
      // write at the end does not conflict with our own finalizer write.
      await this.setFinalizer(s, true);
    }
    // Cluster API sets the owner reference, but not while the Cluster is paused: find the Machine
    // through its infrastructureRef too, so pausing is reported either way.
    const owner = this.ownerMachine(s);
    const machine = owner ? this.ctx.inf.machines.get(ns, owner.name) : this.referencingMachine(s);
    const cluster = machine ? this.ctx.inf.clusters.get(ns, machine.spec.clusterName) : undefined;
    if (machine && isPaused(cluster, rm)) {
      this.condition(s, ConditionType.Paused, "True", Reason.Paused, "the Cluster or this object is paused", "Normal");
      return this.block(s, Reason.Paused, "the Cluster or this object is paused");
    }
    if (!owner) {
      return this.block(
        s,
        Reason.WaitingForMachineOwner,
        "waiting for a Cluster API Machine to own this RemoteMachine",
      );
    }
    if (!machine) return this.block(s, Reason.WaitingForMachineOwner, `Machine ${owner.name} not found`);
    const mismatch = ownerMismatch({ kind: "RemoteMachine", metadata: rm.metadata }, machine, owner);
    if (mismatch) {
      // Nothing of that Machine is read, run or touched (its data, its Node).
      const prev = s.conditions.find((c) => c.type === ConditionType.Ready);
      if (prev?.reason !== Reason.OwnerMachineMismatch)
        void this.ctx.events.emit(this.target(s), "Warning", Reason.OwnerMachineMismatch, mismatch);
      this.ctx.tasks.dropWarm(s.key);
      return this.block(s, Reason.OwnerMachineMismatch, mismatch);
    }
    s.machine = machine;
    if (!cluster) return this.block(s, Reason.WaitingForCluster, `Cluster ${machine.spec.clusterName} not found`);
    this.condition(s, ConditionType.Paused, "False", Reason.NotPaused);

    if (provisionedBefore(rm)) {
      // Provisioned (by us, or by k0smotron before the switch; possibly a status wiped by
      // clusterctl move): rebuild status from spec, never run anything again.
      this.ctx.tasks.clear(s.key);
      this.condition(s, ConditionType.BootstrapExecSucceeded, "True", Reason.BootstrapSucceeded);
      s.status.bootstrap = { ...(s.status.bootstrap ?? {}), phase: "Succeeded" };
      const held = rm.spec.pool ? this.ctx.pools.heldBy(rm) : undefined;
      // A pool machine k0smotron claimed: name it on the RemoteMachine as our own claims do.
      const named = poolMachineAnnotationOps(rm, held?.metadata.name);
      if (named) await this.jsonPatch(s, named);
      if (held) {
        this.condition(
          s,
          ConditionType.PoolMachineClaimed,
          "True",
          Reason.PoolMachineClaimed,
          `pool machine ${held.metadata.name} (${held.spec.machine.address})`,
        );
      }
      this.markProvisioned(s, undefined);
      return this.reconcileNode(s, machine, cluster.metadata.name);
    }
    if (rm.spec.pool) {
      if (!(await this.ensurePoolMachine(s, machine))) return undefined;
      rm = s.rm; // with the pool machine's fields
    }
    if (!isClusterInfrastructureProvisioned(cluster)) {
      return this.block(
        s,
        Reason.WaitingForClusterInfrastructure,
        `waiting for Cluster ${cluster.metadata.name}'s infrastructure`,
      );
    }
    if (!rm.spec.address) {
      return this.block(s, Reason.WaitingForPoolMachine, `waiting for a machine of pool ${rm.spec.pool ?? "(none)"}`);
    }
    const dataSecretName = machine.spec.bootstrap?.dataSecretName;
    if (!dataSecretName) {
      this.warmUp(s);
      return this.block(s, Reason.WaitingForBootstrapData, "waiting for the bootstrap provider's data Secret");
    }
    const dataSecret = this.secret(ns, dataSecretName);
    const value = secretValue(dataSecret, "value");
    if (value === undefined) {
      this.warmUp(s);
      return this.block(
        s,
        Reason.BootstrapSecretNotFound,
        `bootstrap data Secret ${dataSecretName} not found or without \`value\``,
      );
    }
    if (s.status.bootstrap?.phase === "Failed") {
      this.ctx.tasks.clear(s.key);
      // A failed bootstrap is never run again (the machine is half set up): delete the Machine.
      return this.block(
        s,
        s.conditions.find((c) => c.type === ConditionType.BootstrapExecSucceeded)?.reason ?? Reason.BootstrapFailed,
        "the bootstrap failed; delete the Machine to replace it",
      );
    }

    if (rm.spec.provisionJob) {
      return this.reconcileProvisionJob(s, machine, { value, format: secretValue(dataSecret, "format") });
    }
    const task = this.ctx.tasks.get(s.key);
    const inputs = this.inputsOf(s, dataSecret);
    const gate = this.retryGate.get(s.key);
    if (!task && gate && gate.inputs === inputs && Date.now() < gate.at) {
      // Say it again: the write that first reported it may have lost a race with another write.
      this.condition(s, ConditionType.HostReachable, "False", gate.reason, gate.message);
      this.block(s, gate.reason, gate.message);
      // Come back when the gate opens (a timer may fire a little early, or this run may be due
      // to an unrelated event): never leave a failing machine without a scheduled retry.
      return { requeueAfterMs: gate.at - Date.now() + 50 };
    }
    if (!task) {
      this.retryGate.delete(s.key);
      const t = this.sshTarget(s);
      if ("reason" in t) {
        this.condition(s, ConditionType.HostReachable, "False", t.reason, t.message, "Warning");
        return this.block(s, t.reason, t.message);
      }
      const spec = rm.spec;
      this.log(s).info("starting the bootstrap task", { warmConnection: this.ctx.tasks.isWarm(s.key) });
      this.ctx.tasks.startBootstrap(s.key, {
        target: t.target,
        useSudo: spec.useSudo ?? false,
        workingDir: spec.workingDir ?? DEFAULT_WORKING_DIR,
        commandsAsScript: spec.commandsAsScript ?? false,
        data: { value, format: secretValue(dataSecret, "format") },
        stateDir: stateDirFor(ns, rm.metadata.name),
        owner: s.key,
        commandTimeoutSeconds: spec.timeouts?.commandSeconds ?? DEFAULT_COMMAND_TIMEOUT_SECONDS,
        bootstrapTimeoutMs: (spec.timeouts?.bootstrapSeconds ?? DEFAULT_BOOTSTRAP_TIMEOUT_SECONDS) * 1000,
        uid: rm.metadata.uid ?? "",
        startStamp: rm.metadata.annotations?.[RemoteAnnotations.BootstrapStarted],
        // Plain functions of (namespace, name): they run after this pass has returned, so
        // they start from the freshest copy and guard their writes (controllers/remotemachine/writes.ts).
        attach: (hostKey) => recordAttach(this.writeDeps, ns, rm.metadata.name, hostKey),
        markStarted: (hostKey, stamp) => recordStart(this.writeDeps, ns, rm.metadata.name, hostKey, stamp),
      });
      // No Event for the start (the condition and the bootstrap-started annotation say it): the
      // Events of a provisioning are its outcome, and failures, each a write of its own.
      this.condition(s, ConditionType.BootstrapExecSucceeded, "False", Reason.BootstrapRunning, "connecting");
      this.log(s).info("bootstrap starting");
      // "Connecting" waits: written now, it would race the task's start record (an API write on
      // the same object) and delay the run it guards; a moment later it usually says which step
      // runs instead (see the running task below).
      s.holdStatusMs = this.connectingHoldMs;
      return this.blockConnecting(s);
    }
    if (task.hostKey) {
      s.status.hostKey = {
        fingerprint: fingerprint(task.hostKey),
        source: rm.spec.insecureSkipHostKeyVerification
          ? "Unchecked"
          : rm.spec.hostKeys || rm.spec.hostKeysSecretRef
            ? "Pinned"
            : "FirstUse",
      };
    }
    if (task.running) {
      const progress = task.step ? `step ${task.step} of ${task.steps}: ${task.stepName}` : "connecting";
      if (task.hostKey) this.condition(s, ConditionType.HostReachable, "True", Reason.Connected);
      s.status.bootstrap = {
        ...(s.status.bootstrap ?? {}),
        phase: "Running",
        startedAt: task.startedAt.toISOString().replace(/\.\d{3}Z$/, "Z"),
        ...(task.step ? { step: task.step, steps: task.steps, stepName: task.stepName } : {}),
      };
      this.condition(s, ConditionType.BootstrapExecSucceeded, "False", Reason.BootstrapRunning, progress);
      // "Connecting" is news only if it lasts: the first step usually follows within a moment
      // and the first write then says which step runs. Without this, a burst of starts on a busy
      // machine wrote "connecting" and then the step, one write more per machine (and one more
      // Machine update by Cluster API for each).
      if (!task.step) s.holdStatusMs = Math.max(0, this.connectingHoldMs - (Date.now() - task.startedAt.getTime()));
      return task.hostKey ? this.block(s, Reason.BootstrapRunning, progress) : this.blockConnecting(s);
    }
    // A finished task stays until the cache shows its outcome (provisioned or failed), so a
    // reconcile of a stale copy can never start the bootstrap again.
    if (!task.ok && !task.failure?.terminal) this.ctx.tasks.clear(s.key);
    if (task.ok) {
      if (task.ignoredKeys?.length) {
        void this.ctx.events.emit(
          this.target(s),
          "Warning",
          "IgnoredCloudConfigKeys",
          `cloud-config keys not carried out: ${task.ignoredKeys.join(", ")}`,
        );
      }
      this.condition(s, ConditionType.HostReachable, "True", Reason.Connected);
      await this.succeed(s, task.hostname, task.finishedAt, task.steps);
      // In the same pass (and so the same status write): the Node, if it has registered already.
      return this.reconcileNode(s, machine, cluster.metadata.name);
    }
    const f = task.failure ?? { reason: Reason.BootstrapFailed, message: "unknown failure", terminal: false };
    if (f.terminal) return this.failTerminally(s, f.reason, f.message, task.finishedAt, task.exitCode);
    const message =
      f.reason === Reason.HostKeyMismatch && f.presentedKey
        ? `${f.message}: it presented ${fingerprint(f.presentedKey)}`
        : f.message;
    this.condition(s, ConditionType.HostReachable, "False", f.reason, message, "Warning");
    const cap = f.reason === Reason.HostUnreachable ? UNREACHABLE_MAX_DELAY_MS : NEEDS_USER_MAX_DELAY_MS;
    const delay = this.ctx.queue.addRateLimited(s.key, cap);
    this.retryGate.set(s.key, { at: Date.now() + delay, inputs, reason: f.reason, message });
    this.log(s).info("cannot bootstrap yet; retrying", { reason: f.reason, retryInMs: delay });
    return this.block(s, f.reason, message);
  }

  /** Records the host key seen on first use (before anything runs on the machine). */
  /**
   * Everything but the bootstrap data is there: open the SSH connection now, so that the
   * bootstrap starts one round trip after the data arrives (see TaskManager.prepare). Skipped
   * for runs through a Job, after a start, and while a task or a retry wait exists.
   */
  private warmUp(s: Scope): void {
    const { rm } = s;
    if (rm.spec.provisionJob || rm.metadata.annotations?.[RemoteAnnotations.BootstrapStarted]) return;
    if (this.ctx.tasks.get(s.key) || this.retryGate.has(s.key)) return;
    const t = this.sshTarget(s);
    if ("reason" in t) return;
    this.ctx.tasks.prepare(s.key, {
      target: t.target,
      useSudo: rm.spec.useSudo ?? false,
      stateDir: stateDirFor(rm.metadata.namespace ?? "", rm.metadata.name),
      commandTimeoutSeconds: rm.spec.timeouts?.commandSeconds ?? DEFAULT_COMMAND_TIMEOUT_SECONDS,
      workingDir: rm.spec.workingDir ?? DEFAULT_WORKING_DIR,
    });
  }

  /**
   * Pool machines: claims one (or finds the one held), copies its connection fields and
   * metadata into this RemoteMachine, and passes its labels and annotations to the Machine.
   * Returns false while waiting for a free machine.
   */
  private async ensurePoolMachine(s: Scope, machine: Machine & Named): Promise<boolean> {
    const pool = s.rm.spec.pool ?? "";
    const ns = s.rm.metadata.namespace ?? "";
    let prm = this.ctx.pools.heldBy(s.rm);
    if (!prm) {
      if (s.rm.metadata.annotations?.[RemoteAnnotations.PoolMachine] && s.rm.spec.address) {
        // Claimed before; the pool machine was deleted since. The copied fields still work.
        this.condition(
          s,
          ConditionType.PoolMachineClaimed,
          "True",
          Reason.PoolMachineClaimed,
          `pool machine ${s.rm.metadata.annotations[RemoteAnnotations.PoolMachine]} (no longer in the pool)`,
        );
        return true;
      }
      prm = await this.ctx.pools.claim(s.rm, pool, s.rm.spec.poolSelector);
      if (!prm) {
        const all = this.ctx.pools.poolMachines(ns, pool);
        const counts = countPool(
          all.map((p) => ({
            phase: poolPhaseOf(p, this.ctx.inf.remoteMachines.get(ns, claimantName(p) ?? "")),
            cordoned: p.spec.cordoned,
          })),
        );
        const msg =
          `no free machine in pool ${pool}${s.rm.spec.poolSelector ? " matching the selector" : ""}: ` +
          `${counts.total} in total, ${counts.claimed} claimed, ${counts.cordoned} cordoned, ${counts.quarantined} quarantined`;
        this.condition(s, ConditionType.PoolMachineClaimed, "False", Reason.WaitingForPoolMachine, msg, "Normal");
        this.block(s, Reason.WaitingForPoolMachine, msg);
        return false;
      }
    }
    const copied = s.rm.metadata.annotations?.[RemoteAnnotations.PoolMachine] === prm.metadata.name;
    if (!copied || !s.rm.spec.address) {
      const patch = claimPatch(prm);
      const finalizers = s.rm.metadata.finalizers ?? [];
      // With the resourceVersion: should two controllers both claim for this RemoteMachine, only
      // one record wins; the other claim is then a duplicate the pool machine's reconcile clears.
      // The finalizer goes in the same write (the whole list: safe under the resourceVersion).
      const res = await this.ctx.api
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
          if (isNotFound(e)) await this.ctx.pools.release(prm, s.rm).catch(() => false);
          throw e;
        });
      s.rm = { ...res, status: s.rm.status };
      const { labels, annotations } = propagatedMetadata(prm);
      const missing = (want: Record<string, string>, have: Record<string, string> | undefined) =>
        Object.entries(want).some(([k, v]) => have?.[k] !== v);
      if (missing(labels, machine.metadata.labels) || missing(annotations, machine.metadata.annotations)) {
        await this.ctx.api.patch(R.machines, ns, machine.metadata.name, { metadata: { labels, annotations } });
      }
    }
    this.condition(
      s,
      ConditionType.PoolMachineClaimed,
      "True",
      Reason.PoolMachineClaimed,
      `pool machine ${prm.metadata.name} (${prm.spec.machine.address})`,
    );
    return true;
  }

  /** Bootstrapped: the provider ID goes into spec (durable), the rest into status. */
  private async succeed(s: Scope, hostname: string | undefined, finishedAt?: Date, steps?: number): Promise<Result> {
    const { rm } = s;
    this.ctx.queue.forget(s.key);
    this.retryGate.delete(s.key);
    const providerID = formatProviderID(rm.spec.address ?? "", rm.spec.port ?? DEFAULT_SSH_PORT);
    const recorded = rm.metadata.annotations?.[RemoteAnnotations.Hostname];
    if (rm.spec.providerID !== providerID || (hostname && recorded !== hostname)) {
      // One write: the provider ID and the hostname the Node will be found by.
      const res = await this.ctx.api.patch<RM>(R.remoteMachines, rm.metadata.namespace, rm.metadata.name, {
        ...(hostname ? { metadata: { annotations: { [RemoteAnnotations.Hostname]: hostname } } } : {}),
        spec: { providerID },
      });
      // The new spec and generation: the status written next observes them.
      s.rm = { ...res, status: s.rm.status };
    }
    // Labels and annotations of the RemoteMachine reach the Machine, as k0smotron passes them.
    const toMachine = s.machine && machineMetadataPatch(s.rm, s.machine);
    if (s.machine && toMachine)
      await this.ctx.api.patch(R.machines, s.machine.metadata.namespace, s.machine.metadata.name, toMachine);
    s.status.bootstrap = {
      ...(s.status.bootstrap ?? {}),
      phase: "Succeeded",
      finishedAt: (finishedAt ?? this.ctx.now()).toISOString().replace(/\.\d{3}Z$/, "Z"),
      exitCode: 0,
      ...(steps !== undefined ? { step: steps, steps } : {}),
    };
    this.condition(s, ConditionType.BootstrapExecSucceeded, "True", Reason.BootstrapSucceeded, "", "Normal");
    this.markProvisioned(s, hostname);
    return undefined;
  }

  /** A failure that is never retried: the machine may be half set up. */
  private failTerminally(s: Scope, reason: string, message: string, finishedAt?: Date, exitCode?: number): Result {
    s.status.bootstrap = {
      ...(s.status.bootstrap ?? {}),
      phase: "Failed",
      finishedAt: (finishedAt ?? this.ctx.now()).toISOString().replace(/\.\d{3}Z$/, "Z"),
      ...(exitCode !== undefined ? { exitCode } : {}),
    };
    s.status.failureReason = reason;
    s.status.failureMessage = message;
    s.status.deprecated = { v1beta1: { failureReason: reason, failureMessage: message } };
    this.condition(s, ConditionType.BootstrapExecSucceeded, "False", reason, message, "Warning");
    return this.block(s, reason, message);
  }

  /** A Job the controller will not make (yet): said with a condition and an Event; fixed by an edit. */
  private refuseJob(s: Scope, message: string): Result {
    this.condition(s, ConditionType.BootstrapExecSucceeded, "False", Reason.ProvisionJobRefused, message, "Warning");
    return this.block(s, Reason.ProvisionJobRefused, message);
  }

  /**
   * Creates the Job's Secret (or finds its own from an earlier pass) and the Job; returns why it
   * will not, when a name is taken by an object it did not make or the API refuses the template.
   */
  private async createJobAndSecret(s: Scope, name: string, script: string): Promise<string | undefined> {
    const { rm } = s;
    const ns = rm.metadata.namespace ?? "";
    const secret = provisionSecret(rm, name, script);
    const created = await this.ctx.api.create(R.secrets, ns, secret).then(
      () => true,
      (e: unknown) => {
        if (e instanceof ApiError && e.status === 409) return false;
        throw e;
      },
    );
    if (!created) {
      const existing = await this.ctx.api.get<{ metadata: Job["metadata"] }>(R.secrets, ns, secret.metadata.name);
      if (!ownedBy(existing, rm))
        return `Secret ${secret.metadata.name} exists and was not made for this RemoteMachine; delete it`;
    }
    if (!rm.metadata.annotations?.[RemoteAnnotations.BootstrapStarted]) {
      await this.ctx.api.patch(R.remoteMachines, ns, rm.metadata.name, {
        metadata: { annotations: { [RemoteAnnotations.BootstrapStarted]: this.ctx.now().toISOString() } },
      });
    }
    const refusal = await this.ctx.api.create(R.jobs, ns, provisionJob(rm, name)).then(
      () => undefined,
      (e: unknown) => {
        // A Job of that name exists (ours from an earlier pass, or someone else's, which the
        // cache may not show: it lists only Jobs with our label): its owner decides.
        if (e instanceof ApiError && e.status === 409)
          return this.ctx.api
            .get<Job>(R.jobs, ns, name)
            .then((j) =>
              ownedBy(j, rm)
                ? undefined
                : `Job ${name} exists and was not made for this RemoteMachine (no controller owner reference with its UID); delete it or name the Job in jobSpecTemplate.metadata.name`,
            );
        // The API server's own validation of the user's template: said, not retried in a loop.
        if (e instanceof ApiError && (e.status === 422 || e.status === 400)) return e.message;
        throw e;
      },
    );
    if (!refusal) return undefined;
    return refusal.startsWith(`Job ${name} exists`)
      ? refusal
      : `the Job from spec.provisionJob.jobSpecTemplate is invalid: ${refusal}`;
  }

  /** Provisioning through a Job (provisionJob): create it once, then follow its status. */
  private async reconcileProvisionJob(
    s: Scope,
    machine: Machine & Named,
    data: { value: string; format?: string },
  ): Promise<Result> {
    const { rm } = s;
    const ns = rm.metadata.namespace ?? "";
    const refused = jobPolicyViolation(rm, this.ctx.provisionJobAllow);
    if (refused) return this.refuseJob(s, `${refused.field}: ${refused.message}`);
    const name = jobName(rm, machine.spec.clusterName);
    const job = this.ctx.inf.jobs.get(ns, name);
    // A Job or Secret of that name that this RemoteMachine did not make is never used: it could
    // report a run that never happened, or run someone else's script.
    if (job && !ownedBy(job, rm))
      return this.refuseJob(
        s,
        `Job ${name} exists and was not made for this RemoteMachine (no controller owner reference with its UID); delete it or name the Job in jobSpecTemplate.metadata.name`,
      );
    if (!job) {
      let plan: Plan;
      try {
        plan = planBootstrap(data.value, data.format, {
          commandsAsScript: rm.spec.commandsAsScript ?? false,
          hostname: machine.metadata.name,
        });
      } catch (e) {
        if (e instanceof BootstrapDataError) return this.failTerminally(s, e.reason, e.message);
        throw e;
      }
      const script = provisionScript(plan, {
        stateDir: stateDirFor(ns, rm.metadata.name),
        workingDir: rm.spec.workingDir ?? DEFAULT_WORKING_DIR,
        owner: s.key,
        commandTimeoutSeconds: rm.spec.timeouts?.commandSeconds ?? DEFAULT_COMMAND_TIMEOUT_SECONDS,
      });
      const refusal = await this.createJobAndSecret(s, name, script);
      if (refusal) return this.refuseJob(s, refusal);
      const msg = `Job ${name} created`;
      this.condition(s, ConditionType.BootstrapExecSucceeded, "False", Reason.ProvisionJobRunning, msg, "Normal");
      s.status.bootstrap = { ...(s.status.bootstrap ?? {}), phase: "Running" };
      return this.block(s, Reason.ProvisionJobRunning, msg);
    }
    const outcome = jobOutcome(job);
    if (outcome.state === "succeeded") return this.succeed(s, undefined);
    if (outcome.state === "failed") {
      return this.failTerminally(s, Reason.ProvisionJobFailed, `Job ${name} failed: ${outcome.message ?? ""}`);
    }
    this.condition(s, ConditionType.BootstrapExecSucceeded, "False", Reason.ProvisionJobRunning, `Job ${name} running`);
    s.status.bootstrap = { ...(s.status.bootstrap ?? {}), phase: "Running" };
    return this.block(s, Reason.ProvisionJobRunning, `Job ${name} running`);
  }

  /** What a new attempt could see differently: the object's spec and annotations, and its Secrets. */
  private inputsOf(s: Scope, dataSecret: Secret | undefined): string {
    const ns = s.rm.metadata.namespace ?? "";
    const rv = (name: string | undefined) => this.secret(ns, name)?.metadata.resourceVersion ?? "-";
    return [
      s.rm.metadata.generation,
      JSON.stringify(s.rm.metadata.annotations ?? {}),
      rv(s.rm.spec.sshKeyRef?.name),
      rv(s.rm.spec.hostKeysSecretRef?.name),
      rv(s.rm.spec.bastion?.sshKeyRef.name),
      dataSecret?.metadata.resourceVersion,
    ].join("|");
  }

  private markProvisioned(s: Scope, hostname: string | undefined): void {
    const address = s.rm.spec.address ?? "";
    const known =
      s.status.addresses?.find((a) => a.type === "Hostname")?.address ??
      s.rm.metadata.annotations?.[RemoteAnnotations.Hostname];
    const host = hostname ?? known;
    s.status.ready = true;
    s.status.initialization = { provisioned: true };
    s.status.addresses = [
      { type: "ExternalIP", address },
      ...(host ? [{ type: "Hostname" as const, address: host }] : []),
    ];
    delete s.status.failureReason;
    delete s.status.failureMessage;
  }

  private reconcileNode(s: Scope, machine: Machine & Named, clusterName: string): Result {
    if (machine.status?.nodeRef) {
      this.condition(
        s,
        ConditionType.NodeProviderIDSet,
        "True",
        Reason.NodeProviderIDSet,
        `Node ${machine.status.nodeRef.name}`,
      );
      return undefined;
    }
    const ns = s.rm.metadata.namespace ?? "";
    const secret = this.secret(ns, `${clusterName}-kubeconfig`);
    const workload = this.ctx.nodes.nodesOf(
      `${ns}/${clusterName}`,
      secretValue(secret, "value"),
      secret?.metadata.resourceVersion ?? "",
    );
    if (!workload) {
      this.condition(
        s,
        ConditionType.NodeProviderIDSet,
        "False",
        Reason.WaitingForNode,
        `waiting for Secret ${clusterName}-kubeconfig`,
      );
      return undefined;
    }
    if (workload.refused) {
      // Never watched: the Secret holds something that would execute, read files of the
      // controller or weaken TLS (see kube/kubeconfig.ts), or is not a kubeconfig at all.
      this.condition(
        s,
        ConditionType.NodeProviderIDSet,
        "False",
        workload.refused.reason,
        `Secret ${clusterName}-kubeconfig refused: ${workload.refused.message}`,
        "Warning",
      );
      return undefined;
    }
    if (!workload.synced) {
      this.condition(
        s,
        ConditionType.NodeProviderIDSet,
        "False",
        Reason.WaitingForNode,
        "reading the workload cluster's Nodes",
      );
      return undefined;
    }
    const providerID = s.rm.spec.providerID ?? "";
    const match = matchNode(workload.nodes, {
      machineNames: [s.rm.metadata.name, machine.metadata.name],
      hostname:
        s.status.addresses?.find((a) => a.type === "Hostname")?.address ??
        s.rm.metadata.annotations?.[RemoteAnnotations.Hostname],
      address: s.rm.spec.address ?? "",
    });
    if ("ambiguous" in match) {
      // Never a guess: a wrong provider ID hands one machine's Node to another Machine.
      this.condition(
        s,
        ConditionType.NodeProviderIDSet,
        "False",
        Reason.NodeMatchAmbiguous,
        `Nodes ${match.ambiguous.slice(0, 5).join(", ")} all match this machine by name; none is chosen`,
        "Warning",
      );
      return undefined;
    }
    if (!("node" in match)) {
      this.condition(
        s,
        ConditionType.NodeProviderIDSet,
        "False",
        Reason.WaitingForNode,
        "waiting for the machine's Node to register",
      );
      return undefined;
    }
    const node = match.node;
    const handedOff = this.nodeHandOffs.get(`${ns}/${clusterName}/${node.metadata.name}/${node.metadata.uid ?? ""}`);
    if (!node.spec?.providerID && handedOff?.providerID === providerID && Date.now() - handedOff.at < 30_000) {
      // Set a moment ago; the Node cache has not caught up yet.
      this.condition(
        s,
        ConditionType.NodeProviderIDSet,
        "True",
        Reason.NodeProviderIDSet,
        `Node ${node.metadata.name}`,
      );
    } else if (!node.spec?.providerID) {
      this.nodeHandOffs.set(`${ns}/${clusterName}/${node.metadata.name}/${node.metadata.uid ?? ""}`, {
        providerID,
        at: Date.now(),
      });
      if (this.nodeHandOffs.size > 10_000) this.nodeHandOffs.delete(this.nodeHandOffs.keys().next().value as string);
      void workload.api
        .patch(R.nodes, undefined, node.metadata.name, { spec: { providerID } })
        // Logged, not an Event: the Machine's nodeRef shows the link, and a write to the
        // management cluster per machine for it is not worth it. Failures are logged as well and
        // retried by the next pass.
        .then(() => this.log(s).info("set the Node's providerID", { node: node.metadata.name }))
        .catch((e: unknown) => {
          this.nodeHandOffs.delete(`${ns}/${clusterName}/${node.metadata.name}/${node.metadata.uid ?? ""}`);
          this.log(s).warn("could not set the Node's providerID", { node: node.metadata.name, err: e });
        });
      this.condition(
        s,
        ConditionType.NodeProviderIDSet,
        "True",
        Reason.NodeProviderIDSet,
        `Node ${node.metadata.name}`,
      );
    } else if (node.spec.providerID !== providerID) {
      this.condition(
        s,
        ConditionType.NodeProviderIDSet,
        "False",
        Reason.NodeProviderIDConflict,
        `Node ${node.metadata.name} already has providerID ${node.spec.providerID}`,
        "Warning",
      );
    } else {
      this.condition(
        s,
        ConditionType.NodeProviderIDSet,
        "True",
        Reason.NodeProviderIDSet,
        `Node ${node.metadata.name}`,
      );
    }
    return undefined;
  }

  // ------------------------------------------------------------------------------------------
  // delete

  private cleanupKind(s: Scope): CleanupKind {
    return cleanupKindOf(referenceOf(s.machine?.spec.bootstrap?.configRef)?.kind);
  }

  private async reconcileDelete(s: Scope): Promise<Result> {
    const { rm } = s;
    const ns = rm.metadata.namespace ?? "";
    // Ours, or k0smotron's on an object whose deletion began before the switch.
    if (!ownsDeletion(rm)) return undefined;
    const owned = this.ownerMachine(s);
    const m = owned ? this.ctx.inf.machines.get(ns, owned.name) : undefined;
    s.machine = m && !ownerMismatch({ kind: "RemoteMachine", metadata: rm.metadata }, m, owned) ? m : undefined;
    this.ctx.tasks.dropWarm(s.key);
    const existing = this.ctx.tasks.get(s.key);
    if (existing?.kind === "bootstrap") this.ctx.tasks.cancel(s.key);
    const touched = !!rm.spec.providerID || !!rm.metadata.annotations?.[RemoteAnnotations.BootstrapStarted];
    s.blocker = { reason: Reason.Deleting, message: "cleaning up" };
    if (!touched || !rm.spec.address) {
      await this.settlePool(s);
      return this.removeFinalizer(s, "nothing ran on the machine");
    }
    if (this.cleanedUp.has(s.key)) {
      await this.settlePool(s);
      return this.removeFinalizer(s);
    }
    const task = this.ctx.tasks.get(s.key);
    const custom = cleanUpCommandsOf(rm.spec);
    const dataSecret = this.secret(ns, s.machine?.spec.bootstrap?.dataSecretName);
    const value = secretValue(dataSecret, "value");
    const commands = cleanupCommands({
      kind: this.cleanupKind(s),
      ...(custom ? { custom } : {}),
      ...(value !== undefined ? { data: { value, format: secretValue(dataSecret, "format") } } : {}),
    });
    if (!task) {
      const held = rm.spec.pool ? this.ctx.pools.heldBy(rm) : undefined;
      const changed = connectionChanged(
        rm.spec,
        held ? { name: held.metadata.name, machine: held.spec.machine } : undefined,
      );
      if (changed) {
        // Root commands go only to the host that was provisioned; a pool machine is quarantined.
        const message = `cleanup skipped: ${changed}`;
        this.condition(s, ConditionType.CleanupSucceeded, "False", Reason.ConnectionChanged, message, "Warning");
        await this.settlePool(s, { reason: Reason.ConnectionChanged, message, commands });
        return this.removeFinalizer(s, undefined, message);
      }
      const t = this.sshTarget(s);
      if ("reason" in t) {
        await this.settlePool(s, { reason: Reason.CleanupSkipped, message: `cleanup skipped: ${t.message}`, commands });
        return this.removeFinalizer(s, undefined, `cleanup skipped: ${t.message}`);
      }
      this.ctx.tasks.startCleanup(s.key, {
        target: t.target,
        useSudo: rm.spec.useSudo ?? false,
        commands,
        stateDir: stateDirFor(ns, rm.metadata.name),
        commandTimeoutMs: (rm.spec.timeouts?.commandSeconds ?? 300) * 1000,
      });
      this.condition(
        s,
        ConditionType.CleanupSucceeded,
        "False",
        Reason.CleanupRunning,
        `running ${commands.length} cleanup commands`,
        "Normal",
      );
      return undefined;
    }
    if (task.running) return undefined;
    this.ctx.tasks.clear(s.key);
    if (task.ok) {
      this.condition(s, ConditionType.CleanupSucceeded, "True", Reason.CleanupSucceeded, "", "Normal");
      this.cleanedUp.add(s.key);
      await this.settlePool(s);
      return this.removeFinalizer(s);
    }
    const attempts = (this.cleanupAttempts.get(s.key) ?? 0) + 1;
    this.cleanupAttempts.set(s.key, attempts);
    const what = task.failure?.message ?? "cleanup failed";
    if (attempts < CLEANUP_ATTEMPTS) {
      this.condition(
        s,
        ConditionType.CleanupSucceeded,
        "False",
        Reason.CleanupFailed,
        `attempt ${attempts} of ${CLEANUP_ATTEMPTS}: ${what}`,
        "Warning",
      );
      return { requeueAfterMs: 2000 * 3 ** (attempts - 1) };
    }
    const undone = task.leftUndone?.length ? `left undone: ${task.leftUndone.join("; ")}` : what;
    const message = `cleanup gave up after ${CLEANUP_ATTEMPTS} attempts (${undone})`;
    await this.settlePool(s, { reason: Reason.CleanupFailed, message, commands });
    return this.removeFinalizer(s, undefined, message);
  }

  /**
   * On deletion, before the finalizer goes: the held pool machine returns to the pool when the
   * cleanup succeeded (or nothing ran), and is quarantined when it did not.
   */
  private async settlePool(s: Scope, failed?: { reason: string; message: string; commands: string[] }): Promise<void> {
    if (!s.rm.spec.pool) return;
    const prm = this.ctx.pools.heldBy(s.rm);
    if (!prm) return;
    const record = failed
      ? {
          reason: failed.reason,
          message: failed.message,
          since: this.ctx
            .now()
            .toISOString()
            .replace(/\.\d{3}Z$/, "Z"),
          remoteMachine: s.rm.metadata.name,
          cleanup: this.cleanupKind(s),
        }
      : undefined;
    // Cleaned: the machine returns once Cluster API has deleted the Machine (it deletes the
    // Machine's Node by name after we are gone; a new claimant's Node of the same name must not
    // be registered before that).
    const owner = s.rm.metadata.ownerReferences?.find((o) => o.kind === "Machine");
    const returningAfter = !record && owner ? { name: owner.name, uid: owner.uid } : undefined;
    if (!(await this.ctx.pools.release(prm, s.rm, record ? { quarantine: record } : { returningAfter }))) return;
    const target = {
      apiVersion: prm.apiVersion ?? "infrastructure.cluster.x-k8s.io/v1beta2",
      kind: "PooledRemoteMachine",
      metadata: prm.metadata as Named["metadata"] & { uid?: string },
    };
    if (record) {
      const msg = `quarantined after RemoteMachine ${s.rm.metadata.name}: ${record.message}; fix the machine, then release it`;
      void this.ctx.events.emit(target, "Warning", Reason.PoolMachineQuarantined, msg);
      void this.ctx.events.emit(
        this.target(s),
        "Warning",
        Reason.PoolMachineQuarantined,
        `pool machine ${prm.metadata.name} ${msg}`,
      );
    } else {
      const back = prm.spec.cordoned
        ? "cordoned, so kept out of the pool"
        : returningAfter
          ? `back in the pool once Machine ${returningAfter.name} is deleted`
          : "back in the pool";
      void this.ctx.events.emit(
        target,
        "Normal",
        Reason.PoolMachineReturned,
        `freed by RemoteMachine ${s.rm.metadata.name}: ${back}`,
      );
    }
  }

  private async removeFinalizer(s: Scope, note?: string, warning?: string): Promise<Result> {
    if (warning) void this.ctx.events.emit(this.target(s), "Warning", Reason.CleanupFailed, warning);
    else if (note) this.log(s).info("removing finalizer", { note });
    this.cleanupAttempts.delete(s.key);
    // Ours and k0smotron's (a deletion it began, or an object never reconciled since the switch).
    const ops = finalizerHandOver(s.rm, false);
    if (ops) await this.jsonPatch(s, ops);
    this.cleanedUp.delete(s.key);
    return undefined;
  }
}
