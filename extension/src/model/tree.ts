/**
 * The Clusters page: per Cluster a tree like `clusterctl describe cluster` (Cluster ->
 * infrastructure, control plane -> Machines, MachineDeployments -> MachineSets -> Machines, other
 * Machines), each row with replica counts, status, reason, since and message; Machines in the
 * same state under one parent are folded into one row. Pure.
 */
import { conditionsOf, summaryOf } from "./conditions.js";
import type { Obj } from "./types.js";

export interface TreeRow {
  id: string;
  depth: number;
  kind: string;
  name: string;
  namespace?: string;
  /** Several machines folded into one row. */
  names?: string[];
  replicas?: string;
  available?: number;
  ready?: number;
  upToDate?: number;
  status: string;
  reason: string;
  message: string;
  since?: string;
  /** 0 fine, 1 progressing, 2 warning, 3 error. */
  level: number;
  paused?: boolean;
}

export interface ClusterInput {
  clusters: Obj[];
  machineDeployments: Obj[];
  machineSets: Obj[];
  machines: Obj[];
  /** Infrastructure objects by "Kind/namespace/name" (RemoteMachines, RemoteClusters, ...). */
  infra: Map<string, Obj>;
}

const refKey = (ref: { kind?: string; name?: string } | undefined, ns: string | undefined) =>
  ref?.kind && ref.name ? `${ref.kind}/${ns ?? ""}/${ref.name}` : "";

const ownedBy = (o: Obj, kind: string, name: string) =>
  (o.metadata.ownerReferences ?? []).some((r) => r.kind === kind && r.name === name);

const clusterOf = (o: Obj) => o.spec?.clusterName ?? o.metadata.labels?.["cluster.x-k8s.io/cluster-name"];

function counts(o: Obj): Pick<TreeRow, "replicas" | "available" | "ready" | "upToDate"> {
  const s = o.status ?? {};
  const desired = o.spec?.replicas;
  const current = s.replicas;
  return {
    ...(desired !== undefined || current !== undefined
      ? { replicas: `${current ?? 0}/${desired ?? current ?? 0}` }
      : {}),
    ...(s.availableReplicas !== undefined ? { available: s.availableReplicas } : {}),
    ...(s.readyReplicas !== undefined ? { ready: s.readyReplicas } : {}),
    ...(s.upToDateReplicas !== undefined ? { upToDate: s.upToDateReplicas } : {}),
  };
}

function row(o: Obj, depth: number, id: string, kind = o.kind ?? ""): TreeRow {
  const sum = summaryOf(o);
  const paused =
    o.spec?.paused === true || o.metadata.annotations?.["cluster.x-k8s.io/paused"] !== undefined || undefined;
  return {
    id,
    depth,
    kind,
    name: o.metadata.name,
    ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
    ...counts(o),
    status: sum.status,
    reason: sum.reason,
    message: sum.message,
    ...(sum.since ? { since: sum.since } : {}),
    level: sum.level,
    ...(paused ? { paused: true } : {}),
  };
}

/** Machines in the same state (status, reason, message) fold into one row when there are several. */
export function groupMachines(machines: Obj[], depth: number, parentId: string): TreeRow[] {
  const groups = new Map<string, Obj[]>();
  for (const m of [...machines].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const s = summaryOf(m);
    const k = `${s.status}|${s.reason}|${s.message}`;
    groups.set(k, [...(groups.get(k) ?? []), m]);
  }
  const out: TreeRow[] = [];
  for (const [, ms] of groups) {
    const first = ms[0] as Obj;
    if (ms.length === 1) out.push(row(first, depth, `${parentId}/Machine/${first.metadata.name}`, "Machine"));
    else {
      out.push({
        ...row(first, depth, `${parentId}/Machines/${first.metadata.name}`, "Machine"),
        name: `${ms.length} Machines...`,
        names: ms.map((m) => m.metadata.name),
      });
    }
  }
  return out.sort((a, b) => b.level - a.level);
}

/** The rows of one cluster's tree, depth first. */
export function clusterTree(cluster: Obj, input: ClusterInput): TreeRow[] {
  const ns = cluster.metadata.namespace;
  const name = cluster.metadata.name;
  const id = `Cluster/${ns}/${name}`;
  const rows: TreeRow[] = [row(cluster, 0, id, "Cluster")];
  const inCluster = (o: Obj) => o.metadata.namespace === ns && clusterOf(o) === name;
  const infraRef = cluster.spec?.infrastructureRef;
  if (infraRef) {
    const infra = input.infra.get(refKey(infraRef, ns));
    rows.push(
      infra
        ? row(infra, 1, `${id}/infra`, infraRef.kind)
        : {
            id: `${id}/infra`,
            depth: 1,
            kind: infraRef.kind,
            name: infraRef.name,
            status: "",
            reason: "",
            message: "",
            level: 1,
          },
    );
  }
  const machines = input.machines.filter(inCluster);
  const cpMachines = machines.filter((m) => m.metadata.labels?.["cluster.x-k8s.io/control-plane"] !== undefined);
  const cpRef = cluster.spec?.controlPlaneRef;
  if (cpRef || cpMachines.length) {
    const cpId = `${id}/ControlPlane`;
    rows.push({
      id: cpId,
      depth: 1,
      kind: cpRef?.kind ?? "ControlPlane",
      name: cpRef?.name ?? "(machines)",
      status: "",
      reason: "",
      message: cpRef ? "" : "control plane Machines without a control plane object",
      level: Math.max(0, ...cpMachines.map((m) => summaryOf(m).level)),
    });
    rows.push(...groupMachines(cpMachines, 2, cpId));
  }
  const mds = input.machineDeployments.filter(inCluster).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const inMd = new Set<string>();
  for (const md of mds) {
    const mdId = `${id}/MachineDeployment/${md.metadata.name}`;
    rows.push(row(md, 1, mdId, "MachineDeployment"));
    const sets = input.machineSets.filter((s) => inCluster(s) && ownedBy(s, "MachineDeployment", md.metadata.name));
    for (const ms of sets.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
      const msId = `${mdId}/MachineSet/${ms.metadata.name}`;
      rows.push(row(ms, 2, msId, "MachineSet"));
      const owned = machines.filter((m) => ownedBy(m, "MachineSet", ms.metadata.name));
      for (const m of owned) inMd.add(m.metadata.name);
      rows.push(...groupMachines(owned, 3, msId));
    }
  }
  const others = machines.filter((m) => !inMd.has(m.metadata.name) && !cpMachines.includes(m));
  if (others.length) {
    const oId = `${id}/Workers`;
    rows.push({
      id: oId,
      depth: 1,
      kind: "Workers",
      name: "other Machines",
      status: "",
      reason: "",
      message: "",
      level: 0,
    });
    rows.push(...groupMachines(others, 2, oId));
  }
  return rows;
}

/** Every cluster's tree, clusters in trouble first. */
export function clusterTrees(input: ClusterInput): { cluster: Obj; rows: TreeRow[] }[] {
  return input.clusters
    .map((c) => ({ cluster: c, rows: clusterTree(c, input) }))
    .sort(
      (a, b) =>
        Math.max(...b.rows.map((r) => r.level)) - Math.max(...a.rows.map((r) => r.level)) ||
        a.cluster.metadata.name.localeCompare(b.cluster.metadata.name),
    );
}

export { conditionsOf };
