/**
 * The PooledRemoteMachine reconcile: keeps the status a person reads (phase, claim, conditions,
 * the machine's facts) and carries out release requests. Claims themselves are made and ended by
 * the RemoteMachine reconcile (see ../pool/claims.ts); this one only clears claims that nobody
 * can hold any more (on request, or a duplicate superseded by the holder's own record).
 */
import {
  API_VERSION,
  type Condition,
  ConditionType,
  claimantName,
  fitToSchema,
  holds,
  legacyReservation,
  type MachineFacts,
  PoolAnnotations,
  type PooledRemoteMachine,
  type PooledRemoteMachineStatus,
  PooledRemoteMachineStatusSchema,
  type PoolPhase,
  parseFacts,
  poolPhaseOf,
  quarantineOf,
  Reason,
  RemoteAnnotations,
  type RemoteMachine,
  returningAfterOf,
  setCondition,
} from "@capi-remote/shared";
import { isConflict, isNotFound, R } from "../kube/api.js";
import { FreshCache } from "../runtime/fresh.js";
import { ownerMismatch } from "../security/ownership.js";
import { releaseCleanup } from "../security/quarantine.js";
import { fingerprint } from "../ssh/hostkeys.js";
import type { Ctx, Named } from "./context.js";
import { mergePatch } from "./diff.js";
import { sshTargetFor } from "./sshtarget.js";

type PRM = PooledRemoteMachine & Named;
type RM = RemoteMachine & Named;
type Result = { requeueAfterMs?: number } | undefined;

/** Read-only; prints key=value lines that `parseFacts` reads. */
export const FACTS_SCRIPT = [
  "echo hostname=$(hostname)",
  "echo os=$(uname -s)",
  "echo kernel=$(uname -r)",
  "echo arch=$(uname -m)",
  "echo cpus=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)",
  "echo memkb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)",
  "(. /etc/os-release 2>/dev/null && echo pretty=$PRETTY_NAME)",
  "true",
].join("; ");

/**
 * True when a pool machine changed only in what its status mirrors: its claim annotations (our
 * own compare-and-swap) or its status (our own write). Such a change needs no action, only a
 * status brought up to date, which may wait for more urgent work.
 */
export function mirrorsOnly(now: PRM, old: PRM): boolean {
  const m = now.metadata;
  const o = old.metadata;
  if (m.generation !== o.generation || m.deletionTimestamp !== o.deletionTimestamp) return false;
  if (JSON.stringify(m.labels ?? {}) !== JSON.stringify(o.labels ?? {})) return false;
  if (JSON.stringify(m.finalizers ?? []) !== JSON.stringify(o.finalizers ?? [])) return false;
  const rest = (a: Record<string, string> | undefined) => {
    const { [PoolAnnotations.ClaimedBy]: _by, [PoolAnnotations.ClaimedByUID]: _uid, ...others } = a ?? {};
    return JSON.stringify(Object.entries(others).sort(([x], [y]) => (x < y ? -1 : 1)));
  };
  return rest(m.annotations) === rest(o.annotations);
}

const FACTS_MAX_DELAY_MS = 300_000;

/** Sets a condition of the pool machine (and emits an Event on a change when `event` is given). */
type SetCondition = (
  type: string,
  st: "True" | "False" | "Unknown",
  reason: string,
  message?: string,
  event?: "Normal" | "Warning",
) => void;

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

export class PooledMachineReconciler {
  /** After a failed fact gathering: no new attempt before `at` unless the spec changed. */
  private readonly factsGate = new Map<string, { at: number; generation: number | undefined }>();
  /**
   * The outcome of the last release, until the status shows it: the release removes its request
   * annotation, so a status write that loses a race must not lose the outcome with it.
   */
  private readonly released = new Map<
    string,
    { status: "True" | "False" | "Unknown"; reason: string; message: string }
  >();
  /** Facts gathered but maybe not yet in the cache. */
  private readonly factsDone = new Map<string, { facts: MachineFacts; generation: number | undefined }>();
  /**
   * The object as our last status write left it, until the cache shows that version: a
   * reconcile in between (its holder changed, say) then writes against it instead of failing
   * with 409 against the older cached copy.
   */
  private readonly written = new FreshCache<PRM>();

  constructor(
    private readonly ctx: Ctx,
    private readonly queue: {
      add(key: string): void;
      addRateLimited(key: string, cap?: number): number;
      forget(key: string): void;
    },
  ) {}

  /** Task keys of pool machines are prefixed so that task notifications reach this queue. */
  static taskKey(key: string, what: "facts" | "release"): string {
    return `prm:${what}:${key}`;
  }

  private target(prm: PRM) {
    return {
      apiVersion: prm.apiVersion ?? API_VERSION,
      kind: "PooledRemoteMachine",
      metadata: prm.metadata as Named["metadata"] & { uid?: string },
    };
  }

  async reconcile(key: string): Promise<Result> {
    const [ns, name] = key.split("/") as [string, string];
    const cached = this.ctx.inf.pooledRemoteMachines.get(ns, name);
    if (!cached) {
      for (const what of ["facts", "release"] as const)
        this.ctx.tasks.cancel(PooledMachineReconciler.taskKey(key, what));
      this.factsGate.delete(key);
      this.factsDone.delete(key);
      this.released.delete(key);
      this.written.forget(key);
      return undefined;
    }
    // A claim or release this process just wrote is newer than the cache; so is our own last
    // status write, until the cache has caught up with it (or a few seconds have passed).
    this.written.get(key, cached);
    const fresh = this.written.peek(key);
    const claimed = this.ctx.pools.current(ns, name) ?? cached;
    // Our status write answered with the whole object: as new as the claim it was computed from.
    const prm = (fresh && claimantName(fresh) === claimantName(claimed) ? fresh : claimed) as PRM;
    const status: PooledRemoteMachineStatus = structuredClone(prm.status ?? {});
    const conditions: Condition[] = structuredClone(prm.status?.conditions ?? []);
    const cond = (
      type: string,
      st: "True" | "False" | "Unknown",
      reason: string,
      message = "",
      event?: "Normal" | "Warning",
    ) => {
      const prev = conditions.find((c) => c.type === type);
      setCondition(conditions, { type, status: st, reason, message }, this.ctx.now(), prm.metadata.generation);
      if (event && (prev?.status !== st || prev?.reason !== reason))
        void this.ctx.events.emit(this.target(prm), event, reason, message || reason);
    };
    let result: Result;

    const who = claimantName(prm);
    const claimant = who ? (this.ctx.inf.remoteMachines.get(ns, who) as RM | undefined) : undefined;
    const held = !!who && holds(claimant, prm);

    // Reserved by k0smotron (status only): recorded as a claim before anything else is written,
    // so the status below never shows it free (docs/migration.md).
    if (legacyReservation(prm)) {
      await this.ctx.pools.adoptLegacy(prm, held ? claimant?.metadata.uid : undefined);
      return undefined; // the write brings us back
    }

    // A duplicate claim: the RemoteMachine it names committed to another pool machine.
    const named = claimant?.metadata.annotations?.[RemoteAnnotations.PoolMachine];
    if (who && claimant && !held && named && named !== prm.metadata.name) {
      if (await this.ctx.pools.clearClaim(prm, (o) => claimantName(o) === who && !holds(claimant, o))) {
        void this.ctx.events.emit(
          this.target(prm),
          "Normal",
          Reason.StaleClaimCleared,
          `cleared a duplicate claim by RemoteMachine ${who}, which uses pool machine ${named}`,
        );
      }
      return undefined; // the write brings us back
    }

    // Cleaned after a RemoteMachine went: back in the pool once its Machine is gone too.
    const returning = who ? undefined : returningAfterOf(prm.metadata.annotations);
    if (returning && prm.metadata.annotations?.[PoolAnnotations.Release] === undefined) {
      const m = this.ctx.inf.machines.get(ns, returning.machine);
      if (!m || (returning.uid && m.metadata.uid !== returning.uid)) {
        await this.ctx.api
          .patch(R.pooledRemoteMachines, ns, name, {
            metadata: { annotations: { [PoolAnnotations.ReturningAfter]: null } },
          })
          .catch((e: unknown) => {
            if (!isNotFound(e)) throw e;
          });
        void this.ctx.events.emit(
          this.target(prm),
          "Normal",
          Reason.PoolMachineReturned,
          `Machine ${returning.machine} is deleted: ${prm.spec.cordoned ? "cordoned, so kept out of the pool" : "back in the pool"}`,
        );
        return undefined; // the write brings us back
      }
    }

    if (prm.metadata.annotations?.[PoolAnnotations.Release] !== undefined) {
      result = await this.release(key, prm, who, claimant, held, (type, st, reason, message = "", event) => {
        cond(type, st, reason, message, event);
        this.released.set(key, { status: st, reason, message });
      });
    } else {
      const last = this.released.get(key);
      if (last) {
        const shown = cached.status?.conditions?.find((c) => c.type === ConditionType.Released);
        if (shown?.reason === last.reason && shown.message === last.message) this.released.delete(key);
        else cond(ConditionType.Released, last.status, last.reason, last.message);
      }
    }

    const phase: PoolPhase = poolPhaseOf(prm, claimant);
    status.phase = phase;
    status.reserved = !!who;
    if (who) status.machineRef = { name: who, namespace: ns };
    else delete status.machineRef;
    status.cordoned = prm.spec.cordoned ?? false;
    status.observedGeneration = prm.metadata.generation;

    // Conditions a person reads next to the phase.
    if (!who && returning)
      cond(
        ConditionType.Claimed,
        "False",
        Reason.WaitingForMachineDeletion,
        `cleaned; returns to the pool once Cluster API has deleted Machine ${returning.machine} (and its Node)`,
      );
    else if (!who) cond(ConditionType.Claimed, "False", Reason.Available, "");
    else if (!held)
      cond(
        ConditionType.Claimed,
        "True",
        Reason.ClaimantNotFound,
        `RemoteMachine ${who} no longer exists; release this machine to return it to the pool`,
        "Warning",
      );
    else cond(ConditionType.Claimed, "True", Reason.Claimed, `RemoteMachine ${who} (${phase})`);
    if (prm.spec.cordoned)
      cond(
        ConditionType.Cordoned,
        "True",
        Reason.Cordoned,
        who ? "stays in use until freed, then stays out of the pool" : "never handed out",
        "Normal",
      );
    else {
      const wasCordoned = conditions.some((c) => c.type === ConditionType.Cordoned && c.status === "True");
      cond(ConditionType.Cordoned, "False", Reason.NotCordoned, "", wasCordoned ? "Normal" : undefined);
    }
    const q = quarantineOf(prm.metadata.annotations);
    if (q)
      cond(ConditionType.Quarantined, "True", q.reason, `${q.message}; fix the machine, then release it`, "Warning");
    else cond(ConditionType.Quarantined, "False", Reason.NotQuarantined, "");

    const facts = this.facts(key, prm, status, cond);
    result = result ?? facts;

    const hostKey = prm.metadata.annotations?.[RemoteAnnotations.HostKey];
    if (hostKey && !prm.spec.machine.insecureSkipHostKeyVerification) {
      status.hostKey = {
        fingerprint: fingerprint(hostKey),
        source: prm.spec.machine.hostKeys || prm.spec.machine.hostKeysSecretRef ? "Pinned" : "FirstUse",
      };
    }
    status.conditions = conditions;
    // Against the freshest copy (a claim written here may be newer than the cache).
    // Fitted to the schema: a host's 400-character OS name must not make the write fail forever.
    const patch = mergePatch(prm.status ?? {}, fitToSchema(status, PooledRemoteMachineStatusSchema));
    if (patch !== undefined) {
      this.ctx.log.with({ pooledRemoteMachine: key }).debug("status patch", { patch });
      try {
        const res = await this.ctx.api.patch<PRM>(
          R.pooledRemoteMachines,
          ns,
          name,
          { metadata: { resourceVersion: prm.metadata.resourceVersion }, status: patch },
          "merge",
          "status",
        );
        this.written.noteWritten(key, res);
      } catch (e) {
        // Changed by someone else since: the retry starts from the cache.
        if (isConflict(e)) this.written.forget(key);
        if (!isNotFound(e)) throw e;
      }
    }
    return result;
  }

  /** Facts over SSH when the machine joins the pool or its connection fields change. */
  private facts(key: string, prm: PRM, status: PooledRemoteMachineStatus, cond: SetCondition): Result {
    if (!this.ctx.poolFacts) {
      cond(
        ConditionType.FactsGathered,
        "False",
        Reason.FactsDisabled,
        "fact gathering is switched off (--pool-facts=false)",
      );
      return undefined;
    }
    const generation = prm.metadata.generation;
    const done = this.factsDone.get(key);
    if (done && done.generation === generation) {
      status.facts = done.facts;
      cond(ConditionType.FactsGathered, "True", Reason.FactsGathered, "");
      if (prm.status?.facts?.gatheredAt === done.facts.gatheredAt) this.factsDone.delete(key);
      return undefined;
    }
    const current =
      prm.status?.facts &&
      prm.status.conditions?.find((c) => c.type === ConditionType.FactsGathered)?.observedGeneration === generation;
    if (current) return undefined;
    const tkey = PooledMachineReconciler.taskKey(key, "facts");
    const task = this.ctx.tasks.get(tkey);
    if (!task) {
      const gate = this.factsGate.get(key);
      if (gate && gate.generation === generation && Date.now() < gate.at)
        return { requeueAfterMs: gate.at - Date.now() + 50 };
      const ns = prm.metadata.namespace ?? "";
      const t = sshTargetFor(
        (n) => (n ? this.ctx.inf.secrets.get(ns, n) : undefined),
        prm.spec.machine,
        prm.metadata.annotations?.[RemoteAnnotations.HostKey],
      );
      if ("reason" in t) {
        cond(ConditionType.FactsGathered, "False", t.reason, t.message, "Warning");
        this.factsGate.set(key, { at: Date.now() + this.queue.addRateLimited(key, FACTS_MAX_DELAY_MS), generation });
        return undefined;
      }
      this.ctx.tasks.startProbe(tkey, {
        target: t.target,
        command: FACTS_SCRIPT,
        timeoutMs: 30_000,
        recordHostKey: async (hk) => {
          await this.ctx.api.patch(R.pooledRemoteMachines, ns, prm.metadata.name, {
            metadata: { annotations: { [RemoteAnnotations.HostKey]: hk } },
          });
        },
      });
      return undefined;
    }
    if (task.running) return undefined;
    this.ctx.tasks.clear(tkey);
    if (task.ok) {
      const facts = { ...parseFacts(task.output ?? ""), gatheredAt: iso(this.ctx.now()) };
      this.factsDone.set(key, { facts, generation });
      this.factsGate.delete(key);
      this.queue.forget(key);
      status.facts = facts;
      cond(ConditionType.FactsGathered, "True", Reason.FactsGathered, "");
      return undefined;
    }
    const f = task.failure ?? { reason: Reason.HostUnreachable, message: "unknown failure" };
    const message =
      f.reason === Reason.HostKeyMismatch && task.failure?.presentedKey
        ? `${f.message}: it presented ${fingerprint(task.failure.presentedKey)}`
        : f.message;
    cond(ConditionType.FactsGathered, "False", f.reason, message, "Warning");
    this.factsGate.set(key, { at: Date.now() + this.queue.addRateLimited(key, FACTS_MAX_DELAY_MS), generation });
    return undefined;
  }

  /** Carries out the release request (annotation), then removes it. */
  private async release(
    key: string,
    prm: PRM,
    who: string | undefined,
    claimant: RM | undefined,
    held: boolean,
    cond: SetCondition,
  ): Promise<Result> {
    const ns = prm.metadata.namespace ?? "";
    const done = async (extra: Record<string, string | null> = {}) => {
      await this.ctx.api.patch(R.pooledRemoteMachines, ns, prm.metadata.name, {
        metadata: { annotations: { [PoolAnnotations.Release]: null, ...extra } },
      });
    };
    // A quarantine record on a claimed machine is not ours (a quarantine ends the claim in the
    // same write): the machine is in use, and nothing is run on it for an annotation.
    const q = who ? undefined : quarantineOf(prm.metadata.annotations);
    if (q) {
      // Retry the cleanup that failed; the machine comes back only if it succeeds.
      const tkey = PooledMachineReconciler.taskKey(key, "release");
      const task = this.ctx.tasks.get(tkey);
      if (!task) {
        const t = sshTargetFor(
          (n) => (n ? this.ctx.inf.secrets.get(ns, n) : undefined),
          prm.spec.machine,
          prm.metadata.annotations?.[RemoteAnnotations.HostKey],
        );
        if ("reason" in t) {
          cond(
            ConditionType.Released,
            "False",
            Reason.ReleaseFailed,
            `cannot retry the cleanup: ${t.message}`,
            "Warning",
          );
          await done();
          return undefined;
        }
        // Never the record's commands or paths: see security/quarantine.ts.
        const { commands, stateDir } = releaseCleanup(ns, prm.spec.machine, q);
        this.ctx.tasks.startCleanup(tkey, {
          target: t.target,
          useSudo: prm.spec.machine.useSudo ?? false,
          commands,
          stateDir,
          commandTimeoutMs: (prm.spec.machine.timeouts?.commandSeconds ?? 300) * 1000,
        });
        cond(
          ConditionType.Released,
          "Unknown",
          Reason.CleanupRunning,
          `retrying the cleanup (${commands.length} commands)`,
          "Normal",
        );
        return undefined;
      }
      if (task.running) return undefined;
      this.ctx.tasks.clear(tkey);
      if (task.ok) {
        await done({ [PoolAnnotations.Quarantined]: null });
        cond(
          ConditionType.Released,
          "True",
          Reason.QuarantineLifted,
          "the cleanup succeeded; the machine is back in the pool",
          "Normal",
        );
      } else {
        const undone = task.leftUndone?.length
          ? `left undone: ${task.leftUndone.join("; ")}`
          : (task.failure?.message ?? "failed");
        await done({
          [PoolAnnotations.Quarantined]: JSON.stringify({
            ...q,
            message: `cleanup retried on release and failed (${undone})`,
            since: iso(this.ctx.now()),
          }),
        });
        cond(
          ConditionType.Released,
          "False",
          Reason.ReleaseFailed,
          `the cleanup failed again (${undone}); still quarantined`,
          "Warning",
        );
      }
      return undefined;
    }
    if (who && !held) {
      const cleared = await this.ctx.pools.clearClaim(
        prm,
        (o) => claimantName(o) === who && !holds(this.ctx.inf.remoteMachines.get(ns, who), o),
      );
      if (cleared) {
        await done();
        cond(
          ConditionType.Released,
          "True",
          Reason.StaleClaimCleared,
          `cleared the claim of RemoteMachine ${who}, which no longer exists`,
          "Normal",
        );
      }
      return undefined;
    }
    if (who && held && claimant) {
      // In use: retire it from its cluster through Cluster API; our delete path cleans it up and
      // returns it (cordoned machines stay out).
      const owner = claimant.metadata.ownerReferences?.find((o) => o.kind === "Machine");
      const named = owner ? this.ctx.inf.machines.get(ns, owner.name) : undefined;
      // Only the Machine that names the claimant as its infrastructure is retired: an owner
      // reference alone could name any Machine of the namespace (a control-plane Machine).
      const machine =
        named && !ownerMismatch({ kind: "RemoteMachine", metadata: claimant.metadata }, named, owner)
          ? named
          : undefined;
      let what: string;
      if (machine) {
        if (!machine.metadata.deletionTimestamp)
          await this.ctx.api.delete(R.machines, ns, machine.metadata.name).catch((e: unknown) => {
            if (!isNotFound(e)) throw e;
          });
        what = `deleted Machine ${machine.metadata.name} of Cluster ${machine.spec.clusterName} (its node is drained); the machine returns ${prm.spec.cordoned ? "cordoned" : "to the pool"} after its cleanup`;
      } else {
        if (!claimant.metadata.deletionTimestamp)
          await this.ctx.api.delete(R.remoteMachines, ns, claimant.metadata.name).catch((e: unknown) => {
            if (!isNotFound(e)) throw e;
          });
        what = `deleted RemoteMachine ${claimant.metadata.name} (it has no Machine); the machine returns after its cleanup`;
      }
      await done();
      cond(ConditionType.Released, "True", Reason.MachineRetired, what, "Normal");
      return undefined;
    }
    const returning = returningAfterOf(prm.metadata.annotations);
    if (returning) {
      await done({ [PoolAnnotations.ReturningAfter]: null });
      cond(
        ConditionType.Released,
        "True",
        Reason.StaleClaimCleared,
        `returned to the pool without waiting for Machine ${returning.machine} to be deleted`,
        "Normal",
      );
      return undefined;
    }
    await done();
    cond(ConditionType.Released, "True", Reason.NothingToRelease, "the machine was not claimed", "Normal");
    return undefined;
  }
}
