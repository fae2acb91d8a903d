/**
 * Typed views of the Cluster API kinds capi-remote reads (cluster.x-k8s.io v1beta1 and v1beta2),
 * and pure helpers that smooth over the differences between the two versions.
 */
import type { Condition } from "./conditions.js";
import type { KubeObject } from "./schema/k8s.js";

export const CAPI_GROUP = "cluster.x-k8s.io";
export const CAPI_VERSIONS = ["v1beta1", "v1beta2"] as const;

export const CAPILabels = {
  ClusterName: "cluster.x-k8s.io/cluster-name",
  ControlPlane: "cluster.x-k8s.io/control-plane",
  DeploymentName: "cluster.x-k8s.io/deployment-name",
  SetName: "cluster.x-k8s.io/set-name",
  /** Objects outside a Cluster's owner chain travel with `clusterctl move` when they carry it. */
  Move: "clusterctl.cluster.x-k8s.io/move",
  ManagedBy: "cluster.x-k8s.io/managed-by",
} as const;

export const CAPIAnnotations = {
  Paused: "cluster.x-k8s.io/paused",
  TopologyDryRun: "topology.cluster.x-k8s.io/dry-run",
} as const;

/** A v1beta1 object reference (carries apiVersion). */
export interface ObjectReferenceV1beta1 {
  apiVersion?: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

/** A v1beta2 contract reference (carries apiGroup, no version). */
export interface ContractReferenceV1beta2 {
  apiGroup: string;
  kind: string;
  name: string;
}

export type AnyReference = ObjectReferenceV1beta1 | ContractReferenceV1beta2;

/** Group, kind and name of a reference, whichever version wrote it. */
export function referenceOf(ref: AnyReference | undefined): { group: string; kind: string; name: string } | undefined {
  if (!ref) return undefined;
  const group = "apiGroup" in ref ? ref.apiGroup : (ref.apiVersion ?? "").split("/").slice(0, -1).join("/");
  return { group, kind: ref.kind, name: ref.name };
}

/** Status fields both versions can carry, in the shape of either. */
interface CommonStatus {
  phase?: string;
  observedGeneration?: number;
  conditions?: Condition[];
  /** v1beta1 objects carry the v1beta2 conditions here. */
  v1beta2?: { conditions?: Condition[] };
  /** v1beta2 objects keep the v1beta1 conditions here. */
  deprecated?: { v1beta1?: { conditions?: Condition[]; failureReason?: string; failureMessage?: string } };
  failureReason?: string;
  failureMessage?: string;
}

export interface ClusterSpec {
  paused?: boolean;
  controlPlaneEndpoint?: { host?: string; port?: number };
  infrastructureRef?: AnyReference;
  controlPlaneRef?: AnyReference;
  topology?: { class?: string; classRef?: { name: string; namespace?: string }; version?: string };
}
export interface ClusterStatus extends CommonStatus {
  infrastructureReady?: boolean;
  controlPlaneReady?: boolean;
  initialization?: { infrastructureProvisioned?: boolean; controlPlaneInitialized?: boolean };
}
export type Cluster = KubeObject<ClusterSpec, ClusterStatus>;

export interface MachineSpec {
  clusterName: string;
  bootstrap: { configRef?: AnyReference; dataSecretName?: string };
  infrastructureRef: AnyReference;
  version?: string;
  providerID?: string;
  failureDomain?: string;
}
export interface MachineStatus extends CommonStatus {
  nodeRef?: { name: string; kind?: string; apiVersion?: string; uid?: string };
  addresses?: { type: string; address: string }[];
  bootstrapReady?: boolean;
  infrastructureReady?: boolean;
  initialization?: { bootstrapDataSecretCreated?: boolean; infrastructureProvisioned?: boolean };
}
export type Machine = KubeObject<MachineSpec, MachineStatus>;

export interface MachineTemplateSpec {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: MachineSpec;
}
interface ReplicaStatus extends CommonStatus {
  replicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  upToDateReplicas?: number;
  updatedReplicas?: number;
  unavailableReplicas?: number;
  selector?: string;
}
export interface MachineSetSpec {
  clusterName: string;
  replicas?: number;
  selector?: { matchLabels?: Record<string, string> };
  template: MachineTemplateSpec;
}
export type MachineSet = KubeObject<MachineSetSpec, ReplicaStatus>;

export interface MachineDeploymentSpec extends MachineSetSpec {
  paused?: boolean;
}
export type MachineDeployment = KubeObject<MachineDeploymentSpec, ReplicaStatus>;

/** The API version of an object, split. */
export function versionOf(obj: { apiVersion: string }): string {
  return obj.apiVersion.split("/").pop() ?? "";
}

/**
 * The object's conditions in the v1beta2 (metav1.Condition) shape, whichever version it was read
 * through: v1beta2 keeps them in `status.conditions`, v1beta1 in `status.v1beta2.conditions`.
 * A v1beta1 object written by an older controller has only v1beta1 conditions; those are returned
 * then, as they are the only ones there are.
 */
export function conditionsOf(obj: { apiVersion: string; status?: CommonStatus }): Condition[] {
  const s = obj.status;
  if (!s) return [];
  if (versionOf(obj) === "v1beta1") return s.v1beta2?.conditions ?? s.conditions ?? [];
  return s.conditions ?? [];
}

/** True when Cluster API says to leave the object alone (Cluster paused, or a paused annotation). */
export function isPaused(cluster: Cluster | undefined, obj: { metadata: { annotations?: Record<string, string> } }) {
  if (cluster?.spec.paused) return true;
  if (cluster?.metadata.annotations?.[CAPIAnnotations.Paused] !== undefined) return true;
  return obj.metadata.annotations?.[CAPIAnnotations.Paused] !== undefined;
}

/** Cluster infrastructure provisioned, under either contract. */
export function isClusterInfrastructureProvisioned(cluster: Cluster): boolean {
  return cluster.status?.initialization?.infrastructureProvisioned ?? cluster.status?.infrastructureReady ?? false;
}
