/** What every reconciler gets: API, caches, events, logs, metrics, tasks. */

import type {
  Cluster,
  Machine,
  PooledRemoteMachine,
  RemoteCluster,
  RemoteMachine,
  RemoteMachineTemplate,
} from "@capi-remote/shared";
import type { KubeConfig } from "@kubernetes/client-node";
import type { HealthProber } from "../health/prober.js";
import type { KubeApi } from "../kube/api.js";
import type { PoolClaims } from "../pool/claims.js";
import type { EventRecorder } from "../runtime/events.js";
import type { Informer } from "../runtime/informer.js";
import type { Logger } from "../runtime/log.js";
import type { Metrics } from "../runtime/metrics.js";
import type { WorkQueue } from "../runtime/queue.js";
import type { NodeWatcher } from "./nodes.js";
import type { Job, JobAllowance } from "./provisionjob.js";
import type { TaskManager } from "./tasks.js";

export interface Secret {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string };
  data?: Record<string, string>;
  type?: string;
}

/** A Secret's value under `key`, decoded; undefined when absent. */
export function secretValue(s: Secret | undefined, key: string): string | undefined {
  const v = s?.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
}

export type Named = { metadata: { name: string; namespace?: string } };

export interface Ctx {
  api: KubeApi;
  kc: KubeConfig;
  log: Logger;
  events: EventRecorder;
  metrics: Metrics;
  tasks: TaskManager;
  /** Reachability checks of provisioned machines (absent or disabled: none). */
  health?: HealthProber;
  nodes: NodeWatcher;
  queue: WorkQueue;
  pools: PoolClaims;
  /** Gather hostname, OS, CPUs and memory of pool machines over SSH. */
  poolFacts: boolean;
  /** Pod features a provisionJob may ask for beyond the default (--provision-job-allow). */
  provisionJobAllow?: ReadonlySet<JobAllowance>;
  inf: {
    remoteMachines: Informer<RemoteMachine & Named>;
    machines: Informer<Machine & Named>;
    clusters: Informer<Cluster & Named>;
    secrets: Informer<Secret>;
    jobs: Informer<Job>;
    pooledRemoteMachines: Informer<PooledRemoteMachine & Named>;
    remoteMachineTemplates: Informer<RemoteMachineTemplate & Named>;
  };
  now: () => Date;
}

export type { RemoteCluster };
