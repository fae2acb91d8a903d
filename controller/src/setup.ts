/**
 * The composition root: the manager, the caches and services the controllers share (pool
 * claims, the SSH task manager, the health prober, the workload clusters' Node watcher), and the
 * four controllers registered on it. Each controller's own watches are in its register.ts.
 */
import type {
  Cluster,
  Machine,
  PooledRemoteMachine,
  RemoteCluster,
  RemoteMachine,
  RemoteMachineTemplate,
} from "@capi-remote/shared";
import type { Config } from "./config.js";
import type { Ctx } from "./controllers/context.js";
import { hostWork } from "./controllers/hostwork.js";
import { POOL_MACHINE_CONTROLLER, registerPoolMachine } from "./controllers/pooledmachine/register.js";
import { REMOTE_CLUSTER_CONTROLLER, registerRemoteCluster } from "./controllers/remotecluster/register.js";
import { nodeToQueue, REMOTE_MACHINE_CONTROLLER, registerRemoteMachine } from "./controllers/remotemachine/register.js";
import { registerTemplate, TEMPLATE_CONTROLLER } from "./controllers/template/register.js";
import { probeLaneProber } from "./health/prober.js";
import { R } from "./kube/api.js";
import type { Named, Secret } from "./kube/objects.js";
import { PoolClaims } from "./pool/claims.js";
import { JOB_LABEL, type Job } from "./provisionjob/job.js";
import { Manager } from "./runtime/manager.js";
import type { WorkQueue } from "./runtime/queue.js";
import { projectSecretMeta, type SecretMeta, SecretReader } from "./security/secrets.js";
import { setRequirePinnedHostKeys } from "./security/sshtarget.js";
import { WORD_LIMITS } from "./security/wordbudget.js";
import { Ssh2Dialer } from "./ssh/executor.js";
import { slotLimits } from "./ssh/slots.js";
import { NodeWatcher } from "./workload/nodes.js";

/** The manager with every controller registered; `run()` starts it. */
export function setUp(cfg: Config): Manager {
  setRequirePinnedHostKeys(cfg.requirePinnedHostKeys);
  const m = new Manager(cfg);
  const inf = {
    remoteMachines: m.informer<RemoteMachine & Named>(R.remoteMachines),
    machines: m.informer<Machine & Named>(R.machines),
    clusters: m.informer<Cluster & Named>(R.clusters),
    ...(cfg.provisionJobs ? { jobs: m.informer<Job>(R.jobs, { labelSelector: JOB_LABEL }) } : {}),
    pooledRemoteMachines: m.informer<PooledRemoteMachine & Named>(R.pooledRemoteMachines),
    remoteMachineTemplates: m.informer<RemoteMachineTemplate & Named>(R.remoteMachineTemplates),
  };
  const remoteClusters = m.informer<RemoteCluster & Named>(R.remoteClusters);
  const secrets = secretReader(m, cfg);
  const queue = m.queue(REMOTE_MACHINE_CONTROLLER, cfg.concurrency);
  const prmQueue = m.queue(POOL_MACHINE_CONTROLLER, cfg.concurrency);
  const templateQueue = m.queue(TEMPLATE_CONTROLLER, 2);
  const rcQueue = m.queue(REMOTE_CLUSTER_CONTROLLER, 2);
  const dialer = new Ssh2Dialer((n) => m.metrics.sshSessions.set(n));
  const { tasks, hosts, slots } = sshWork(m, cfg, dialer, queue, prmQueue);
  const nodes = new NodeWatcher(m.log, (clusterKey, node) => onNode(clusterKey, node));
  // Health probes of provisioned machines wait in the task manager's probe lane.
  const health = probeLaneProber(dialer, slots, (k) => queue.add(k), cfg.healthCheck);
  const ctx: Ctx = {
    api: m.api,
    kc: m.kc,
    log: m.log,
    events: m.events,
    metrics: m.metrics,
    tasks,
    hosts,
    health,
    nodes,
    queue,
    pools: new PoolClaims(m.api, inf.pooledRemoteMachines, m.log),
    poolFacts: cfg.poolFacts,
    provisionJobAllow: new Set(cfg.provisionJobAllow),
    secrets,
    inf,
    now: () => new Date(),
  };
  const onNode = nodeToQueue(ctx);
  registerRemoteMachine(m, ctx);
  registerPoolMachine(m, ctx, prmQueue);
  registerTemplate(m, ctx, templateQueue);
  registerRemoteCluster(m, ctx, remoteClusters, rcQueue);
  m.onStop(() => health.stop());
  m.onStop(() => {
    hosts.close();
    return tasks.shutdown();
  });
  m.onStop(() => nodes.stop());
  m.onStop(() => secrets.stop());
  return m;
}

/**
 * Secrets: watched as metadata only (what wakes a machine), read with a GET when a machine names
 * one; the words of what was read are the redaction words (security/secrets.ts).
 */
function secretReader(m: Manager, cfg: Config): SecretReader {
  // Pages of 100: a tenant can grow a Secret's labels and annotations to near 1.5 MiB, and a page
  // is parsed whole before each item is cut down to its name and version.
  const meta = m.informer<SecretMeta>(R.secrets, { metadataOnly: true, pageSize: 100, project: projectSecretMeta });
  const fetch = (ns: string, name: string) => m.api.get<Secret>(R.secrets, ns, name);
  return new SecretReader(meta, fetch, m.words, {
    onHeld: (copies, bytes) => {
      m.metrics.secretCopies.set(copies);
      m.metrics.secretCopyBytes.set(bytes);
    },
    wordLimits: {
      ...WORD_LIMITS,
      total: cfg.redactionWordsMiB * 2 ** 20,
      namespaceShare: cfg.sshNamespaceShare,
    },
    onWords: (weight) => m.metrics.redactionWordBytes.set(weight),
  });
}

/** SSH work, with its notifications routed to the queue of the controller that started it. */
function sshWork(m: Manager, cfg: Config, dialer: Ssh2Dialer, queue: WorkQueue, prmQueue: WorkQueue) {
  return hostWork(dialer, {
    // Pool machine tasks are keyed "prm:<what>:<ns>/<name>"; the rest are RemoteMachine keys.
    notify: (k) => (k.startsWith("prm:") ? prmQueue.add(k.slice(k.indexOf(":", 4) + 1)) : queue.add(k)),
    limits: slotLimits({
      bootstrap: cfg.maxParallelSSH,
      cleanup: cfg.maxParallelSSHCleanup,
      probe: cfg.maxParallelSSHProbe,
      namespaceShare: cfg.sshNamespaceShare,
    }),
    redact: (_k, t) => m.words.redact(t),
    finished: (t) => {
      if (t.kind !== "bootstrap" || t.ok === undefined) return;
      const outcome = t.ok ? "succeeded" : (t.failure?.reason ?? "failed");
      if (t.ok || t.failure?.terminal) {
        m.metrics.bootstraps.inc({ outcome });
        m.metrics.bootstrapDuration.observe(
          { outcome },
          ((t.finishedAt?.getTime() ?? Date.now()) - t.startedAt.getTime()) / 1000,
        );
      }
    },
    sessions: {
      warm: {
        max: cfg.maxWarmSSH,
        perNamespace: Math.ceil(cfg.maxWarmSSH * cfg.sshNamespaceShare),
        idleMs: 10 * 60_000,
      },
      trace: (key, msg, fields) => m.log.debug(msg, { remoteMachine: key, ...fields }),
    },
  });
}
