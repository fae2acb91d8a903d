/**
 * What the views read: plain Kubernetes objects (as JSON), whatever store they came from. The
 * Lens adapter hands over `toPlainObject()` copies of its KubeObjects; tests hand over objects
 * read from a real API server.
 */

import type { InstallClient } from "./install.js";

export interface Meta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid?: string; controller?: boolean }[];
}

// biome-ignore lint/suspicious/noExplicitAny: objects of many kinds and versions are read loosely
export type Loose = any;

export interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata: Meta;
  spec?: Loose;
  status?: Loose;
}

/** The kinds the extension shows, by the name the views use. */
export type KindKey =
  | "clusters"
  | "machineDeployments"
  | "machineSets"
  | "machines"
  | "remoteMachines"
  | "pooledRemoteMachines"
  | "remoteMachineTemplates"
  | "remoteClusters";

export interface KindInfo {
  kind: string;
  group: string;
  version: string;
  plural: string;
  /** Which product defines it (for empty states). */
  from: "Cluster API" | "capi-remote";
}

export const KIND_INFO: Record<KindKey, KindInfo> = {
  clusters: { kind: "Cluster", group: "cluster.x-k8s.io", version: "v1beta2", plural: "clusters", from: "Cluster API" },
  machineDeployments: {
    kind: "MachineDeployment",
    group: "cluster.x-k8s.io",
    version: "v1beta2",
    plural: "machinedeployments",
    from: "Cluster API",
  },
  machineSets: {
    kind: "MachineSet",
    group: "cluster.x-k8s.io",
    version: "v1beta2",
    plural: "machinesets",
    from: "Cluster API",
  },
  machines: { kind: "Machine", group: "cluster.x-k8s.io", version: "v1beta2", plural: "machines", from: "Cluster API" },
  remoteMachines: {
    kind: "RemoteMachine",
    group: "infrastructure.cluster.x-k8s.io",
    version: "v1beta2",
    plural: "remotemachines",
    from: "capi-remote",
  },
  pooledRemoteMachines: {
    kind: "PooledRemoteMachine",
    group: "infrastructure.cluster.x-k8s.io",
    version: "v1beta2",
    plural: "pooledremotemachines",
    from: "capi-remote",
  },
  remoteMachineTemplates: {
    kind: "RemoteMachineTemplate",
    group: "infrastructure.cluster.x-k8s.io",
    version: "v1beta2",
    plural: "remotemachinetemplates",
    from: "capi-remote",
  },
  remoteClusters: {
    kind: "RemoteCluster",
    group: "infrastructure.cluster.x-k8s.io",
    version: "v1beta2",
    plural: "remoteclusters",
    from: "capi-remote",
  },
};

export const apiBaseOf = (k: KindInfo) => `/apis/${k.group}/${k.version}/${k.plural}`;

/** A store's state for one kind. `missing` when its CRD is not installed. */
export interface KindState {
  loaded: boolean;
  missing: boolean;
  error?: string;
}

/**
 * A change the API server refused as forbidden (403: RBAC, or an admission check that denies);
 * its message is the API server's, which names the verb, the object and the user.
 */
export class Refused extends Error {
  override readonly name = "Refused";
}

/** Where the views get objects and send changes; the Lens adapter and tests implement it. */
export interface DataSource {
  /**
   * capi-remote's install manifests this build carries, and a client that applies them as the
   * person using the host (absent where the host cannot).
   */
  installer?: { manifests: Obj[]; client: InstallClient } | undefined;
  /** Lists a kind again (after an install made it served); resolves once the list is in. */
  reload(kind: KindKey): Promise<void>;
  items(kind: KindKey): Obj[];
  state(kind: KindKey): KindState;
  /** Merge or JSON patch of the main resource (never status); rejects with `Refused` on a 403. */
  patch(kind: KindKey, obj: Obj, patch: unknown, type: "merge" | "json"): Promise<void>;
  remove(kind: KindKey, obj: Obj): Promise<void>;
  /** Recent Events about an object, newest first (may be empty where the host has none). */
  eventsOf(obj: Obj): { type?: string; reason?: string; message?: string; lastTimestamp?: string; count?: number }[];
}

/** What the views ask the host to do for a person. */
export interface UiActions {
  ok(message: string): void;
  error(message: string): void;
  confirm(opts: { title: string; message: string; ok: string }): Promise<boolean>;
  /** Opens an object's details (or does nothing where the host cannot). */
  open(kind: string, namespace: string | undefined, name: string): void;
}

export const now = () => Date.now();

/** "5m", "3h", "2d": how long ago, as kubectl prints ages. */
export function age(ts: string | undefined, at = now()): string {
  if (!ts) return "";
  const s = Math.max(0, Math.floor((at - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}
