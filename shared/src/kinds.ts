/**
 * The kinds capi-remote serves: names, versions, and how `kubectl get` shows them. The CRD
 * generator and the clients (controller, extension) read these; nothing repeats them.
 */

import {
  PooledRemoteMachineSpecSchema,
  PooledRemoteMachineStatusSchema,
  RemoteClusterSpecSchema,
  RemoteClusterStatusSchema,
  RemoteClusterTemplateSpecSchema,
  RemoteMachineSpecSchema,
  RemoteMachineStatusSchema,
  RemoteMachineTemplateSpecSchema,
  RemoteMachineTemplateStatusSchema,
} from "./models/remote.js";
import type { TSchema } from "./schema/k8s.js";

export const GROUP = "infrastructure.cluster.x-k8s.io";
/** Versions served; the last one is stored. Both use the same schema (see models/remote.ts). */
export const VERSIONS = ["v1beta1", "v1beta2"] as const;
export const STORAGE_VERSION = "v1beta2";
export const API_VERSION = `${GROUP}/${STORAGE_VERSION}`;
/** clusterctl and Cluster API know the provider by this label value. */
export const PROVIDER_LABEL = "cluster.x-k8s.io/provider";
export const PROVIDER_NAME = "infrastructure-remote";

export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "boolean" | "date" | "number";
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  spec: TSchema;
  /** Absent for kinds without status (RemoteClusterTemplate). */
  status?: TSchema;
  columns: PrinterColumn[];
  description: string;
}

const age: PrinterColumn = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };

export const KINDS = {
  RemoteMachine: {
    kind: "RemoteMachine",
    plural: "remotemachines",
    singular: "remotemachine",
    shortNames: ["rmachine", "rmach"],
    spec: RemoteMachineSpecSchema,
    status: RemoteMachineStatusSchema,
    description: "A machine reached over SSH that Cluster API provisions as a Machine's infrastructure.",
    columns: [
      { name: "Address", type: "string", jsonPath: ".spec.address", description: "IP address or DNS name" },
      { name: "User", type: "string", jsonPath: ".spec.user", description: "SSH user" },
      { name: "Pool", type: "string", jsonPath: ".spec.pool", description: "Pool the machine was taken from" },
      {
        name: "Provisioned",
        type: "boolean",
        jsonPath: ".status.initialization.provisioned",
        description: "Bootstrapped and ready",
      },
      { name: "ProviderID", type: "string", jsonPath: ".spec.providerID", priority: 1 },
      {
        name: "Reason",
        type: "string",
        jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
        description: "Why the machine is (not) ready",
        priority: 1,
      },
      age,
    ],
  },
  PooledRemoteMachine: {
    kind: "PooledRemoteMachine",
    plural: "pooledremotemachines",
    singular: "pooledremotemachine",
    shortNames: ["prm", "poolmachine"],
    spec: PooledRemoteMachineSpecSchema,
    status: PooledRemoteMachineStatusSchema,
    description: "A machine reached over SSH, waiting in a pool to be claimed by a RemoteMachine.",
    columns: [
      { name: "Pool", type: "string", jsonPath: ".spec.pool" },
      { name: "Address", type: "string", jsonPath: ".spec.machine.address", description: "IP address or DNS name" },
      { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Where the machine is in its life" },
      {
        name: "Claimed-By",
        type: "string",
        jsonPath: ".status.machineRef.name",
        description: "The RemoteMachine holding it",
      },
      { name: "Reserved", type: "boolean", jsonPath: ".status.reserved", priority: 1 },
      { name: "Cordoned", type: "boolean", jsonPath: ".spec.cordoned", priority: 1 },
      { name: "User", type: "string", jsonPath: ".spec.machine.user", priority: 1 },
      { name: "OS", type: "string", jsonPath: ".status.facts.osImage", priority: 1 },
      { name: "CPUs", type: "integer", jsonPath: ".status.facts.cpus", priority: 1 },
      { name: "Memory", type: "string", jsonPath: ".status.facts.memory", priority: 1 },
      age,
    ],
  },
  RemoteMachineTemplate: {
    kind: "RemoteMachineTemplate",
    plural: "remotemachinetemplates",
    singular: "remotemachinetemplate",
    shortNames: ["rmt", "rmachinetemplate"],
    spec: RemoteMachineTemplateSpecSchema,
    status: RemoteMachineTemplateStatusSchema,
    description: "Template of RemoteMachines for MachineDeployments, control planes and ClusterClasses.",
    columns: [
      { name: "Pool", type: "string", jsonPath: ".spec.template.spec.pool" },
      { name: "Total", type: "integer", jsonPath: ".status.pool.total", description: "Machines in the pool" },
      { name: "Available", type: "integer", jsonPath: ".status.pool.available", description: "Free machines" },
      { name: "In-Use", type: "integer", jsonPath: ".status.pool.inUse", priority: 1 },
      { name: "Cordoned", type: "integer", jsonPath: ".status.pool.cordoned", priority: 1 },
      { name: "Quarantined", type: "integer", jsonPath: ".status.pool.quarantined", priority: 1 },
      age,
    ],
  },
  RemoteCluster: {
    kind: "RemoteCluster",
    plural: "remoteclusters",
    singular: "remotecluster",
    shortNames: ["rcluster"],
    spec: RemoteClusterSpecSchema,
    status: RemoteClusterStatusSchema,
    description: "Cluster infrastructure for clusters of remote machines: it passes the control plane endpoint on.",
    columns: [
      { name: "Host", type: "string", jsonPath: ".spec.controlPlaneEndpoint.host" },
      { name: "Port", type: "integer", jsonPath: ".spec.controlPlaneEndpoint.port" },
      { name: "Provisioned", type: "boolean", jsonPath: ".status.initialization.provisioned" },
      age,
    ],
  },
  RemoteClusterTemplate: {
    kind: "RemoteClusterTemplate",
    plural: "remoteclustertemplates",
    singular: "remoteclustertemplate",
    shortNames: ["rclustertemplate"],
    spec: RemoteClusterTemplateSpecSchema,
    description: "Template of RemoteClusters, for ClusterClass.",
    columns: [age],
  },
} as const satisfies Record<string, KindDefinition>;

export type KindName = keyof typeof KINDS;
