/**
 * What wakes a RemoteMachine: mappers from the objects it depends on to its queue keys, each
 * answered from informer indexes (never a scan of every object per event).
 */
import {
  type Cluster,
  isClusterInfrastructureProvisioned,
  isPaused,
  isProvisioned,
  type Machine,
  RemoteAnnotations,
  type RemoteMachine,
  referenceOf,
} from "@capi-remote/shared";
import type { Named } from "../../kube/objects.js";
import { JOB_LABEL, type Job } from "../../provisionjob/job.js";
import { keyOf } from "../../runtime/informer.js";
import type { Indexed } from "../../runtime/store.js";
import { connectionSecretNames } from "../../security/sshtarget.js";

type RM = RemoteMachine & Named;
type M = Machine & Named;
type Node = { metadata: { name: string }; spec?: { providerID?: string } };

/** Index names (values are `namespace/name`). */
export const Index = {
  /** RemoteMachine -> its owner Machine; Machine -> its Cluster. */
  owner: "owner",
  cluster: "cluster",
  /** RemoteMachine or Machine -> the Secrets it reads. */
  secret: "secret",
  /** RemoteMachine -> the pool it draws from. */
  pool: "pool",
  /** Machine -> the RemoteMachine its infrastructureRef names. */
  infra: "infra",
} as const;

const at = (ns: string | undefined, name: string) => `${ns ?? ""}/${name}`;
const ownerOf = (rm: RM) => rm.metadata.ownerReferences?.find((o) => o.kind === "Machine")?.name;

export interface RemoteMachineWatchInformers {
  remoteMachines: Indexed<RM>;
  machines: Indexed<M>;
}

/** Adds the indexes these mappers read. Call once, before the informers start. */
export function addRemoteMachineIndexes(inf: RemoteMachineWatchInformers): void {
  inf.remoteMachines
    .addIndex(Index.owner, (rm) => {
      const o = ownerOf(rm);
      return o ? [at(rm.metadata.namespace, o)] : [];
    })
    .addIndex(Index.secret, (rm) => connectionSecretNames(rm.spec).map((n) => at(rm.metadata.namespace, n)))
    .addIndex(Index.pool, (rm) => (rm.spec.pool ? [at(rm.metadata.namespace, rm.spec.pool)] : []));
  inf.machines
    .addIndex(Index.cluster, (m) => [at(m.metadata.namespace, m.spec.clusterName)])
    .addIndex(Index.secret, (m) =>
      [m.spec.bootstrap?.dataSecretName, `${m.spec.clusterName}-kubeconfig`]
        .filter((n): n is string => !!n)
        .map((n) => at(m.metadata.namespace, n)),
    )
    .addIndex(Index.infra, (m) => {
      const ref = referenceOf(m.spec.infrastructureRef);
      return ref?.kind === "RemoteMachine" ? [at(m.metadata.namespace, ref.name)] : [];
    });
}

/** The Machine whose infrastructureRef names this RemoteMachine (before it owns it). */
export function referencingMachine(machines: Pick<Indexed<M>, "byIndex">, rm: RM): M | undefined {
  return machines.byIndex(Index.infra, keyOf(rm))[0];
}

/** The RemoteMachines a Machine concerns: the one it names, and those it owns. */
function ofMachine(inf: RemoteMachineWatchInformers, m: M): string[] {
  const out = inf.remoteMachines.byIndex(Index.owner, keyOf(m)).map(keyOf);
  const ref = referenceOf(m.spec.infrastructureRef);
  if (ref?.kind === "RemoteMachine") out.push(at(m.metadata.namespace, ref.name));
  return out;
}

/** A Machine changed: the RemoteMachine it names. */
export function machineToRemoteMachine(m: M): string | undefined {
  const ref = referenceOf(m.spec.infrastructureRef);
  return ref?.kind === "RemoteMachine" ? at(m.metadata.namespace, ref.name) : undefined;
}

/**
 * Cluster API rewrites Machine status all the time; a RemoteMachine only cares about these
 * fields (requeueing on every Machine status write would cost a reconcile each).
 */
export function machineChanged(m: M, old: M): boolean {
  const view = (x: M) =>
    JSON.stringify([
      x.spec.bootstrap?.dataSecretName,
      x.spec.infrastructureRef,
      x.spec.clusterName,
      x.status?.nodeRef?.name,
      x.metadata.deletionTimestamp,
      x.metadata.labels,
      x.metadata.annotations?.["cluster.x-k8s.io/paused"],
    ]);
  return view(m) !== view(old);
}

/** The RemoteMachines of a Cluster, through their owner Machines. */
export function clusterToRemoteMachines(inf: RemoteMachineWatchInformers, namespace: string, cluster: string): RM[] {
  return inf.machines
    .byIndex(Index.cluster, at(namespace, cluster))
    .flatMap((m) => inf.remoteMachines.byIndex(Index.owner, keyOf(m)));
}

/**
 * Requeueing every RemoteMachine of a Cluster on each Cluster status write would make the work
 * grow with the square of the machines: only these fields matter to them.
 */
export function clusterChanged(c: Cluster & Named, old: Cluster & Named): boolean {
  const view = (x: Cluster & Named) =>
    JSON.stringify([
      isPaused(x, { metadata: {} }),
      isClusterInfrastructureProvisioned(x),
      x.metadata.deletionTimestamp,
    ]);
  return view(c) !== view(old);
}

/** A Secret changed: the RemoteMachines that read it (their keys, the Machine's data or kubeconfig). */
export function secretToRemoteMachines(inf: RemoteMachineWatchInformers, s: Named): string[] {
  const k = keyOf(s);
  const out = new Set(inf.remoteMachines.byIndex(Index.secret, k).map(keyOf));
  for (const m of inf.machines.byIndex(Index.secret, k)) for (const r of ofMachine(inf, m)) out.add(r);
  return [...out];
}

/** A provisioning Job changed: the RemoteMachine it runs for. */
export function jobToRemoteMachine(j: Job): string | undefined {
  const rm = j.metadata.labels?.[JOB_LABEL];
  return rm ? at(j.metadata.namespace, rm) : undefined;
}

/**
 * A Node of a workload cluster appeared or changed (undefined: the cluster's Nodes were
 * relisted): the provisioned machines still waiting for their Node, and the one it belongs to;
 * not every machine of the cluster.
 */
export function nodeToRemoteMachines(
  inf: RemoteMachineWatchInformers,
  clusterKey: string,
  node: Node | undefined,
): string[] {
  const [cns, cname] = clusterKey.split("/") as [string, string];
  const out: string[] = [];
  for (const rm of clusterToRemoteMachines(inf, cns, cname)) {
    if (!isProvisioned(rm.status)) continue;
    const owner = ownerOf(rm);
    const m = owner ? inf.machines.get(cns, owner) : undefined;
    if (
      !node ||
      !m?.status?.nodeRef ||
      m.status.nodeRef.name === node.metadata.name ||
      (!!rm.spec.providerID && rm.spec.providerID === node.spec?.providerID)
    )
      out.push(keyOf(rm));
  }
  return out;
}

/** RemoteMachines waiting for a machine of `pool` (no pool machine named yet, not deleting). */
export function poolToWaitingRemoteMachines(inf: RemoteMachineWatchInformers, namespace: string, pool: string): RM[] {
  return inf.remoteMachines
    .byIndex(Index.pool, at(namespace, pool))
    .filter((rm) => !rm.metadata.deletionTimestamp && !rm.metadata.annotations?.[RemoteAnnotations.PoolMachine]);
}
