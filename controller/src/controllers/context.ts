/**
 * What every reconciler gets: API, caches, events, logs, metrics, tasks. It sits beside the
 * controllers' folders (not in runtime/) because it names what setup.ts builds from every floor
 * below: pool claims, the task manager, the Node watcher, the health prober.
 */

import type { Cluster, Machine, PooledRemoteMachine, RemoteMachine, RemoteMachineTemplate } from "@capi-remote/shared";
import type { KubeConfig } from "@kubernetes/client-node";
import type { HealthProber } from "../health/prober.js";
import type { HostKind, HostReport, HostSessions } from "../host/session/session.js";
import type { KubeApi } from "../kube/api.js";
import type { Named } from "../kube/objects.js";
import type { PoolClaims } from "../pool/claims.js";
import type { Job, JobAllowance } from "../provisionjob/job.js";
import type { EventRecorder } from "../runtime/events.js";
import type { Informer } from "../runtime/informer.js";
import type { Logger } from "../runtime/log.js";
import type { Metrics } from "../runtime/metrics.js";
import type { WorkQueue } from "../runtime/queue.js";
import type { SecretReader } from "../security/secrets.js";
import type { Task, TaskManager } from "../tasks/taskmanager.js";
import type { NodeWatcher } from "../workload/nodes.js";

/** A conversation with a machine, run as a task: its state and its report. */
export type HostTask = Task<HostKind> & HostReport;

export interface Ctx {
  api: KubeApi;
  kc: KubeConfig;
  log: Logger;
  events: EventRecorder;
  metrics: Metrics;
  /** Slow work per object, off the loop (tasks/taskmanager.ts). */
  tasks: TaskManager<HostTask>;
  /** Conversations with machines, run as tasks (host/session/). */
  hosts: HostSessions;
  /** Reachability checks of provisioned machines (absent or disabled: none). */
  health?: HealthProber;
  nodes: NodeWatcher;
  queue: WorkQueue;
  pools: PoolClaims;
  /** Gather hostname, OS, CPUs and memory of pool machines over SSH. */
  poolFacts: boolean;
  /** Pod features a provisionJob may ask for beyond the default (--provision-job-allow). */
  provisionJobAllow?: ReadonlySet<JobAllowance>;
  /** Secrets by name, read on demand; their watch is metadata only (security/secrets.ts). */
  secrets: Pick<SecretReader, "get" | "getAll" | "version" | "on">;
  inf: {
    remoteMachines: Informer<RemoteMachine & Named>;
    machines: Informer<Machine & Named>;
    clusters: Informer<Cluster & Named>;
    /** Absent when provisionJob is turned off (--provision-jobs=false). */
    jobs?: Informer<Job>;
    pooledRemoteMachines: Informer<PooledRemoteMachine & Named>;
    remoteMachineTemplates: Informer<RemoteMachineTemplate & Named>;
  };
  now: () => Date;
}
