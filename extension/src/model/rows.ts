/**
 * Rows of the Machines, Remote machines and Pools pages, and the status texts Lens shows as
 * warning icons in its lists. Pure.
 */
import type { PoolCounts, PoolPhase } from "@capi-remote/shared";
import { ClaimedReason, ConditionType, FactsGatheredReason } from "@capi-remote/shared/conditions";
import { quarantineOf, RemoteAnnotations } from "@capi-remote/shared/contract";
import { claimantName, countPool, holds, poolPhaseOf } from "@capi-remote/shared/pools";
import { badness, conditionOf, summaryOf } from "./conditions.js";
import type { Obj } from "./types.js";

// ---------------------------------------------------------------------------------------------
// Machines

export interface MachineRow {
  namespace: string;
  name: string;
  cluster: string;
  phase: string;
  node: string;
  providerID: string;
  infraKind: string;
  infraName: string;
  version: string;
  created?: string;
  reason: string;
  message: string;
  level: number;
}

const FAILING_PHASES = new Set(["Failed", "Deleting", "Unknown"]);

/** One Machine's row: from that Machine alone, so a list can keep it until the Machine changes. */
export function machineRow(m: Obj): MachineRow {
  const s = summaryOf(m);
  const phase = m.status?.phase ?? "";
  const level = Math.max(s.level, FAILING_PHASES.has(phase) ? 2 : 0, m.status?.failureReason ? 3 : 0);
  return {
    namespace: m.metadata.namespace ?? "",
    name: m.metadata.name,
    cluster: m.spec?.clusterName ?? "",
    phase,
    node: m.status?.nodeRef?.name ?? "",
    providerID: m.spec?.providerID ?? "",
    infraKind: m.spec?.infrastructureRef?.kind ?? "",
    infraName: m.spec?.infrastructureRef?.name ?? "",
    version: m.spec?.version ?? "",
    ...(m.metadata.creationTimestamp ? { created: m.metadata.creationTimestamp } : {}),
    reason: m.status?.failureReason ?? s.reason,
    message: m.status?.failureMessage ?? s.message,
    level: phase === "Running" && s.status === "True" ? 0 : level,
  };
}

/** The Machines' rows, those in trouble first. */
export function machineRows(machines: Obj[]): MachineRow[] {
  return machines
    .map(machineRow)
    .sort((a, b) => b.level - a.level || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

// ---------------------------------------------------------------------------------------------
// Remote machines

export interface RemoteMachineRow {
  namespace: string;
  name: string;
  address: string;
  user: string;
  pool: string;
  poolMachine: string;
  provisioned: boolean;
  /** "step 2 of 5: runcmd[1]", "succeeded", "failed at step 3", "" */
  progress: string;
  hostKey: string;
  reason: string;
  message: string;
  level: number;
  /** The same warning Lens 6 shows as the object's status text (Freelens 1.8+ shows none). */
  warning?: StatusText;
}

export function bootstrapProgress(rm: Obj): string {
  const b = rm.status?.bootstrap;
  if (!b?.phase) return "";
  if (b.phase === "Succeeded") return b.steps ? `succeeded (${b.steps} steps)` : "succeeded";
  if (b.phase === "Failed") return b.step ? `failed at step ${b.step}${b.steps ? ` of ${b.steps}` : ""}` : "failed";
  if (b.phase === "Running")
    return b.step ? `step ${b.step} of ${b.steps}${b.stepName ? `: ${b.stepName}` : ""}` : "connecting";
  return b.phase;
}

export function hostKeyState(o: Obj): string {
  const hk = o.status?.hostKey;
  if (!hk?.fingerprint) return o.spec?.insecureSkipHostKeyVerification ? "unchecked" : "";
  const how = hk.source === "Pinned" ? "pinned" : hk.source === "FirstUse" ? "recorded on first use" : "unchecked";
  return `${hk.fingerprint} (${how})`;
}

export function remoteMachineRows(rms: Obj[]): RemoteMachineRow[] {
  return rms
    .map((rm) => {
      const ready = conditionOf(rm, ConditionType.Ready);
      const provisioned = rm.status?.initialization?.provisioned ?? rm.status?.ready ?? false;
      return {
        namespace: rm.metadata.namespace ?? "",
        name: rm.metadata.name,
        address: rm.spec?.address ?? "",
        user: rm.spec?.user ?? (rm.spec?.address ? "root" : ""),
        pool: rm.spec?.pool ?? "",
        poolMachine: rm.metadata.annotations?.[RemoteAnnotations.PoolMachine] ?? "",
        provisioned,
        progress: bootstrapProgress(rm),
        hostKey: hostKeyState(rm),
        reason: ready?.reason ?? "",
        message: ready?.message ?? "",
        level: provisioned ? 0 : badness(ready),
        ...withWarning(remoteMachineStatusText(rm)),
      };
    })
    .sort((a, b) => b.level - a.level || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

// ---------------------------------------------------------------------------------------------
// Pools

export interface PoolMachineRow {
  namespace: string;
  name: string;
  pool: string;
  address: string;
  phase: PoolPhase;
  cordoned: boolean;
  claimedBy: string;
  /** The Machine and Cluster of the holder, for links. */
  machine: string;
  cluster: string;
  os: string;
  arch: string;
  cpus: string;
  memory: string;
  reason: string;
  message: string;
  level: number;
  /** The same warning Lens 6 shows as the object's status text (Freelens 1.8+ shows none). */
  warning?: StatusText;
}

/** Memory as people read it: "15.6 GiB" from "16318480Ki". */
export function humanMemory(q: string | undefined): string {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(q ?? "");
  if (!m) return q ?? "";
  const mult = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2] as "Ki" | "Mi" | "Gi"] ?? 1;
  const bytes = Number(m[1]) * mult;
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

/**
 * The phase of a pool machine: the controller's when it has written one, else derived the same
 * way the controller derives it (so a status wiped by a move still shows something true).
 */
export function phaseOf(p: Obj, remoteMachines: Map<string, Obj>): PoolPhase {
  if (p.status?.phase) return p.status.phase as PoolPhase;
  const who = claimantName(p as never);
  return poolPhaseOf(p as never, who ? (remoteMachines.get(`${p.metadata.namespace}/${who}`) as never) : undefined);
}

const PHASE_LEVEL: Record<PoolPhase, number> = {
  Available: 0,
  Claimed: 1,
  Provisioning: 1,
  InUse: 0,
  Failed: 3,
  Cleaning: 1,
  Cordoned: 1,
  Quarantined: 3,
};

export function poolMachineRows(prms: Obj[], rms: Obj[], machines: Obj[]): PoolMachineRow[] {
  const rmByKey = new Map(rms.map((r) => [`${r.metadata.namespace}/${r.metadata.name}`, r]));
  const machineByInfra = new Map<string, Obj>();
  for (const m of machines) {
    const ref = m.spec?.infrastructureRef;
    if (ref?.kind === "RemoteMachine") machineByInfra.set(`${m.metadata.namespace}/${ref.name}`, m);
  }
  return prms
    .map((p) => {
      const phase = phaseOf(p, rmByKey);
      const who = claimantName(p as never) ?? "";
      const machine = who ? machineByInfra.get(`${p.metadata.namespace}/${who}`) : undefined;
      const f = p.status?.facts ?? {};
      const q = quarantineOf(p.metadata.annotations);
      const claimed = conditionOf(p, ConditionType.Claimed);
      const facts = conditionOf(p, ConditionType.FactsGathered);
      const orphan =
        claimed?.reason === ClaimedReason.ClaimantNotFound ||
        (!!who && !holds(rmByKey.get(`${p.metadata.namespace}/${who}`) as never, p as never));
      const warn =
        q?.message ??
        (orphan ? `RemoteMachine ${who} no longer exists; release this machine to return it to the pool` : "");
      const factsProblem =
        facts && facts.status === "False" && facts.reason !== FactsGatheredReason.FactsDisabled ? facts.message : "";
      const level = Math.max(PHASE_LEVEL[phase] ?? 1, orphan ? 2 : 0, factsProblem ? 2 : 0);
      return {
        namespace: p.metadata.namespace ?? "",
        name: p.metadata.name,
        pool: p.spec?.pool ?? "",
        address: p.spec?.machine?.address ?? "",
        phase,
        cordoned: p.spec?.cordoned === true,
        claimedBy: who,
        machine: machine?.metadata.name ?? "",
        cluster: machine?.spec?.clusterName ?? "",
        os: f.osImage ?? f.operatingSystem ?? "",
        arch: f.architecture ?? "",
        cpus: f.cpus !== undefined ? String(f.cpus) : "",
        memory: humanMemory(f.memory),
        reason: q ? q.reason : orphan ? ClaimedReason.ClaimantNotFound : factsProblem ? (facts?.reason ?? "") : "",
        message: warn || factsProblem,
        level,
        // What the controller reported, else what the views see themselves (a claim whose
        // RemoteMachine is gone, before the controller has said so).
        ...withWarning(
          poolMachineStatusText(p) ??
            (warn || factsProblem
              ? { level: level >= 3 ? "critical" : "warning", text: (warn || factsProblem).slice(0, 300) }
              : undefined),
        ),
      };
    })
    .sort((a, b) => a.pool.localeCompare(b.pool) || a.name.localeCompare(b.name));
}

export interface PoolRow extends Required<Omit<PoolCounts, "name">> {
  namespace: string;
  pool: string;
  templates: string[];
  level: number;
}

/** One row per pool (namespace + name): counts by phase, templates that use it. */
export function poolRows(machines: PoolMachineRow[], templates: Obj[]): PoolRow[] {
  const by = new Map<string, PoolMachineRow[]>();
  for (const m of machines) {
    const k = `${m.namespace}/${m.pool}`;
    const list = by.get(k);
    if (list) list.push(m);
    else by.set(k, [m]);
  }
  for (const t of templates) {
    const pool = t.spec?.template?.spec?.pool;
    if (pool && !by.has(`${t.metadata.namespace}/${pool}`)) by.set(`${t.metadata.namespace}/${pool}`, []);
  }
  return [...by.entries()]
    .map(([k, ms]) => {
      const [namespace, pool] = k.split("/") as [string, string];
      const c = countPool(ms.map((m) => ({ phase: m.phase, cordoned: m.cordoned })));
      return {
        namespace,
        pool,
        ...c,
        templates: templates
          .filter((t) => t.metadata.namespace === namespace && t.spec?.template?.spec?.pool === pool)
          .map((t) => t.metadata.name),
        level: Math.max(0, ...ms.map((m) => m.level)),
      };
    })
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.pool.localeCompare(b.pool));
}

// ---------------------------------------------------------------------------------------------
// Status texts (Lens list warning icons)

export interface StatusText {
  level: "info" | "warning" | "critical";
  text: string;
}

const withWarning = (w: StatusText | undefined) => (w ? { warning: w } : {});

export function remoteMachineStatusText(rm: Obj): StatusText | undefined {
  const ready = conditionOf(rm, ConditionType.Ready);
  if (!ready || ready.status === "True") return undefined;
  const b = badness(ready);
  if (b < 2) return undefined;
  return { level: b >= 3 ? "critical" : "warning", text: `${ready.reason}: ${ready.message}`.slice(0, 300) };
}

export function poolMachineStatusText(p: Obj): StatusText | undefined {
  const q = quarantineOf(p.metadata.annotations);
  if (q) return { level: "critical", text: `Quarantined: ${q.message}`.slice(0, 300) };
  const claimed = conditionOf(p, ConditionType.Claimed);
  if (claimed?.reason === ClaimedReason.ClaimantNotFound) return { level: "warning", text: claimed.message };
  if (p.status?.phase === "Failed") return { level: "critical", text: "the bootstrap of its RemoteMachine failed" };
  const facts = conditionOf(p, ConditionType.FactsGathered);
  if (facts?.status === "False" && facts.reason !== FactsGatheredReason.FactsDisabled)
    return { level: "warning", text: `${facts.reason}: ${facts.message}`.slice(0, 300) };
  return undefined;
}

export { summaryOf };
