/**
 * capi-remote controller: wires the caches, queues and reconcilers, serves health and metrics,
 * elects a leader and shuts down cleanly on SIGTERM.
 */

import {
  type Cluster,
  claimantName,
  isClaimable,
  type Machine,
  type PooledRemoteMachine,
  RemoteAnnotations,
  type RemoteCluster,
  type RemoteMachine,
  type RemoteMachineTemplate,
} from "@capi-remote/shared";
import { KubeConfig } from "@kubernetes/client-node";
import { makeCaches } from "./caches.js";
import { SecretWordIndex } from "./cloudinit/redact.js";
import { type Config, parseConfig, usage } from "./config.js";
import { pooledMachineReconciler } from "./controllers/pooledmachine/controller.js";
import {
  addPoolMachineIndexes,
  machineToReturningPoolMachines,
  mirrorsOnly,
  secretToPoolMachines,
} from "./controllers/pooledmachine/watches.js";
import { remoteClusterReconciler } from "./controllers/remotecluster/controller.js";
import { clusterToRemoteCluster } from "./controllers/remotecluster/watches.js";
import { remoteMachineReconciler } from "./controllers/remotemachine/controller.js";
import {
  addRemoteMachineIndexes,
  clusterChanged,
  clusterToRemoteMachines,
  jobToRemoteMachine,
  machineChanged,
  machineToRemoteMachine,
  nodeToRemoteMachines,
  poolToWaitingRemoteMachines,
  secretToRemoteMachines,
} from "./controllers/remotemachine/watches.js";
import { templateReconciler } from "./controllers/template/controller.js";
import { addTemplateIndexes, poolToTemplates } from "./controllers/template/watches.js";
import { probeLaneProber } from "./health/prober.js";
import { isConflict, KubeApi, R } from "./kube/api.js";
import { PoolClaims } from "./pool/claims.js";
import type { Ctx, Named, Secret } from "./reconcile/context.js";
import { NodeWatcher } from "./reconcile/nodes.js";
import { JOB_LABEL, type Job } from "./reconcile/provisionjob.js";
import { setRequirePinnedHostKeys } from "./reconcile/sshtarget.js";
import { TaskManager } from "./reconcile/tasks.js";
import { EventRecorder } from "./runtime/events.js";
import { serveHealth } from "./runtime/http.js";
import { Informer, keyOf, slim } from "./runtime/informer.js";
import { LeaderElector } from "./runtime/leader.js";
import { makeLogger } from "./runtime/log.js";
import { makeMetrics } from "./runtime/metrics.js";
import { WorkQueue, Yielding } from "./runtime/queue.js";
import { startMetricsEndpoint } from "./security/metricsendpoint.js";
import { projectSecret } from "./security/secretcache.js";
import { Ssh2Dialer } from "./ssh/executor.js";
import { slotLimits } from "./ssh/slots.js";

type RM = RemoteMachine & Named;
type PRM = PooledRemoteMachine & Named;

export async function run(cfg: Config): Promise<void> {
  const kc = new KubeConfig();
  if (cfg.kubeconfig) kc.loadFromFile(cfg.kubeconfig);
  else kc.loadFromDefault();
  const metrics = makeMetrics();
  setRequirePinnedHostKeys(cfg.requirePinnedHostKeys);
  /** Secret words of every cached Secret, so that none can reach a log line, Event or message. */
  const words = new SecretWordIndex();
  const log = makeLogger({ level: cfg.logLevel, redact: words.redact });
  const api = new KubeApi(kc, {
    onRequest: (verb, resource, code) => metrics.apiRequests.inc({ verb, resource, code: String(code) }),
  });
  // When the API server is back after an outage (an informer relisted after failing), what
  // failed meanwhile is retried at once instead of after its grown backoff.
  const queues: WorkQueue[] = [];
  const onRecovered = () => {
    for (const q of queues) q.retryFailedNow();
  };
  const { inf, remoteClusters } = makeCaches(api, log, words, {
    ...(cfg.namespace ? { namespace: cfg.namespace } : {}),
    onRecovered,
  });
  const pools = new PoolClaims(api, inf.pooledRemoteMachines, log);
  const events = new EventRecorder(api, "capi-remote-controller", log, words.redact);

  let reconcileRemoteMachine: (key: string) => Promise<{ requeueAfterMs?: number } | undefined>;
  let reconcilePoolMachine: (key: string) => Promise<{ requeueAfterMs?: number } | undefined>;
  let reconcileTemplate: (key: string) => Promise<{ requeueAfterMs?: number } | undefined>;
  // Informers deliver their objects as each one lists; no reconcile may run before every cache
  // is filled, or it reports as missing what is only not listed yet (a pool machine's SSH key
  // Secret: a false SSHKeySecretNotFound Warning at every start).
  let markSynced = () => {};
  const cachesSynced = new Promise<void>((r) => {
    markSynced = r;
  });
  const timed =
    (controller: string, fn: (key: string) => Promise<{ requeueAfterMs?: number } | undefined>) =>
    async (key: string) => {
      await cachesSynced;
      const end = metrics.reconcileDuration.startTimer({ controller });
      try {
        const r = await fn(key);
        metrics.reconciles.inc({ controller, result: r?.requeueAfterMs ? "requeue" : "success" });
        return r;
      } catch (e) {
        metrics.reconciles.inc({ controller, result: "error" });
        metrics.reconcileErrors.inc({ controller });
        // A conflict means our cache was behind our own last write: retried shortly, not news.
        if (isConflict(e)) log.debug("write conflict; retrying with a fresh copy", { controller, object: key });
        else log.error("reconcile failed", { controller, object: key, err: e });
        throw e;
      } finally {
        end();
      }
    };
  const queue = new WorkQueue(
    timed("remotemachine", (k) => reconcileRemoteMachine(k)),
    {
      concurrency: cfg.concurrency,
      onDepth: (d) => metrics.queueDepth.set({ controller: "remotemachine" }, d),
    },
  );
  const prmQueue = new WorkQueue(
    timed("pooledremotemachine", (k) => reconcilePoolMachine(k)),
    {
      concurrency: cfg.concurrency,
      onDepth: (d) => metrics.queueDepth.set({ controller: "pooledremotemachine" }, d),
    },
  );
  const templateQueue = new WorkQueue(
    timed("remotemachinetemplate", (k) => reconcileTemplate(k)),
    { concurrency: 2 },
  );
  queues.push(queue, prmQueue, templateQueue);
  const dialer = new Ssh2Dialer((n) => metrics.sshSessions.set(n));
  const tasks = new TaskManager(
    dialer,
    // Pool machine tasks are keyed "prm:<what>:<ns>/<name>"; the rest are RemoteMachine keys.
    (k) => (k.startsWith("prm:") ? prmQueue.add(k.slice(k.indexOf(":", 4) + 1)) : queue.add(k)),
    slotLimits({
      bootstrap: cfg.maxParallelSSH,
      cleanup: cfg.maxParallelSSHCleanup,
      probe: cfg.maxParallelSSHProbe,
      namespaceShare: cfg.sshNamespaceShare,
    }),
    (_k, t) => words.redact(t),
    (t) => {
      if (t.kind !== "bootstrap" || t.ok === undefined) return;
      const outcome = t.ok ? "succeeded" : (t.failure?.reason ?? "failed");
      if (t.ok || t.failure?.terminal) {
        metrics.bootstraps.inc({ outcome });
        metrics.bootstrapDuration.observe(
          { outcome },
          ((t.finishedAt?.getTime() ?? Date.now()) - t.startedAt.getTime()) / 1000,
        );
      }
    },
    {
      max: cfg.maxWarmSSH,
      perNamespace: Math.ceil(cfg.maxWarmSSH * cfg.sshNamespaceShare),
      idleMs: 10 * 60_000,
      trace: (key, msg, fields) => log.debug(msg, { remoteMachine: key, ...fields }),
    },
  );

  // Mappers answer from informer indexes (controllers/*/watches.ts), added before the start.
  addRemoteMachineIndexes(inf);
  addPoolMachineIndexes(inf.pooledRemoteMachines);
  addTemplateIndexes(inf.remoteMachineTemplates);
  const nodes = new NodeWatcher(log, (clusterKey, node) => {
    for (const k of nodeToRemoteMachines(inf, clusterKey, node)) queue.add(k);
  });
  const health = probeLaneProber(dialer, tasks.slots, (k) => queue.add(k), cfg.healthCheck);
  const ctx: Ctx = {
    api,
    kc,
    log,
    events,
    metrics,
    tasks,
    health,
    nodes,
    queue,
    pools,
    poolFacts: cfg.poolFacts,
    provisionJobAllow: new Set(cfg.provisionJobAllow),
    inf,
    now: () => new Date(),
  };
  reconcileRemoteMachine = remoteMachineReconciler(ctx);
  reconcilePoolMachine = pooledMachineReconciler(ctx, prmQueue);
  reconcileTemplate = templateReconciler(ctx);

  // Watch-driven: every object a RemoteMachine depends on enqueues it when it changes.
  const enqueue = (o: { metadata: { namespace?: string; name: string } }) => queue.add(keyOf(o));
  /**
   * Pool machine reconciles that only bring its status up to date with its holder (a claim,
   * the holder's progress, our own status writes) yield to waiting RemoteMachines (at most
   * 5 s): in a burst, claims and bootstraps get the API server first. Anything a person or the
   * pool asks for (spec, labels, release, cordon, deletion) runs at once.
   */
  const mirror = new Yielding(
    (k) => prmQueue.add(k),
    () => queue.depth > 0,
  );
  /** Templates of a pool recount after a pool change; a short delay folds bursts into one write. */
  const recountPool = (namespace: string | undefined, pool: string | undefined) => {
    if (!pool) return;
    for (const k of poolToTemplates(inf.remoteMachineTemplates, namespace, pool)) templateQueue.addAfter(k, 250);
  };
  const fromRemoteMachine = (rm: RM) => {
    enqueue(rm);
    if (!rm.spec.pool) return;
    // The pool machines it holds (or names) show its progress in their phase.
    const rmNs = rm.metadata.namespace ?? "";
    for (const p of pools.claimedByName(rmNs, rm.metadata.name)) mirror.add(keyOf(p));
    const named = rm.metadata.annotations?.[RemoteAnnotations.PoolMachine];
    if (named) mirror.add(`${rmNs}/${named}`);
    recountPool(rm.metadata.namespace, rm.spec.pool);
  };
  inf.remoteMachines.on({ onAdd: fromRemoteMachine, onUpdate: fromRemoteMachine, onDelete: fromRemoteMachine });
  /** A machine became free: the RemoteMachines waiting on its pool try again at once. */
  const wakeWaiting = (p: PRM) => {
    if (!isClaimable(p, p.spec.pool)) return;
    for (const rm of poolToWaitingRemoteMachines(inf, p.metadata.namespace ?? "", p.spec.pool)) enqueue(rm);
  };
  const fromPoolMachine = (p: PRM, old?: PRM) => {
    if (old && mirrorsOnly(p, old)) mirror.add(keyOf(p));
    else {
      mirror.delete(keyOf(p));
      prmQueue.add(keyOf(p));
    }
    recountPool(p.metadata.namespace, p.spec.pool);
    if (old && old.spec.pool !== p.spec.pool) recountPool(old.metadata.namespace, old.spec.pool);
    // Only when it becomes claimable (joined, freed, uncordoned): waking every waiting
    // RemoteMachine on each status write of a free machine would cost n reconciles per write.
    if (!old || !isClaimable(old, old.spec.pool)) wakeWaiting(p);
    // The holder re-reads its pool machine (e.g. a claim that a release cleared).
    const who = claimantName(p) ?? (old ? claimantName(old) : undefined);
    if (who) queue.add(`${p.metadata.namespace}/${who}`);
  };
  inf.pooledRemoteMachines.on({
    onAdd: (p) => fromPoolMachine(p),
    onUpdate: (p, old) => fromPoolMachine(p, old),
    onDelete: (p) => {
      prmQueue.add(keyOf(p));
      recountPool(p.metadata.namespace, p.spec.pool);
    },
  });
  inf.remoteMachineTemplates.on({
    onAdd: (t) => templateQueue.add(keyOf(t)),
    onUpdate: (t) => templateQueue.add(keyOf(t)),
  });
  const fromMachine = (m: Machine & Named) => {
    const k = machineToRemoteMachine(m);
    if (k) queue.add(k);
  };
  inf.machines.on({
    onAdd: fromMachine,
    onUpdate: (m, old) => {
      if (machineChanged(m, old)) fromMachine(m);
    },
    onDelete: (m) => {
      fromMachine(m);
      for (const k of machineToReturningPoolMachines(inf.pooledRemoteMachines, m)) prmQueue.add(k);
    },
  });
  const fromCluster = (c: Cluster & Named) => {
    for (const rm of clusterToRemoteMachines(inf, c.metadata.namespace ?? "", c.metadata.name)) enqueue(rm);
  };
  inf.clusters.on({
    onAdd: fromCluster,
    onUpdate: (c, old) => {
      if (clusterChanged(c, old)) fromCluster(c);
    },
    onDelete: (c) => {
      nodes.forget(keyOf(c));
      fromCluster(c);
    },
  });
  const fromSecret = (s: Secret) => {
    for (const k of secretToRemoteMachines(inf, s)) queue.add(k);
    for (const k of secretToPoolMachines(inf.pooledRemoteMachines, s)) prmQueue.add(k);
  };
  inf.secrets.on({ onAdd: fromSecret, onUpdate: fromSecret, onDelete: fromSecret });
  const fromJob = (j: Job) => {
    const k = jobToRemoteMachine(j);
    if (k) queue.add(k);
  };
  inf.jobs.on({ onAdd: fromJob, onUpdate: fromJob, onDelete: fromJob });

  const reconcileRemoteCluster = remoteClusterReconciler(ctx, remoteClusters, inf.clusters);
  const rcQueue = new WorkQueue(timed("remotecluster", reconcileRemoteCluster), { concurrency: 2 });
  queues.push(rcQueue);
  remoteClusters.on({ onAdd: (o) => rcQueue.add(keyOf(o)), onUpdate: (o) => rcQueue.add(keyOf(o)) });
  const rcFromCluster = (c: Cluster & Named) => {
    const k = clusterToRemoteCluster(c);
    if (k) rcQueue.add(k);
  };
  inf.clusters.on({ onAdd: rcFromCluster, onUpdate: rcFromCluster });

  const all = [...Object.values(inf), remoteClusters];
  let synced = false;
  const leader = cfg.leaderElect
    ? new LeaderElector(
        api,
        {
          namespace: cfg.leaderElectionNamespace,
          name: cfg.leaderElectionId,
          identity: cfg.identity,
          leaseDurationMs: cfg.leaseDurationMs,
          renewDeadlineMs: cfg.renewDeadlineMs,
          retryPeriodMs: cfg.retryPeriodMs,
        },
        log,
      )
    : undefined;
  const server = await serveHealth(cfg.healthAddress, {
    healthy: () => true,
    ready: () => synced || (leader !== undefined && !leader.isLeader),
  });
  const metricsEndpoint = await startMetricsEndpoint(cfg, api, metrics.registry, log);
  log.info("serving health and metrics", {
    health: cfg.healthAddress,
    metrics: cfg.metricsAddress || "off",
    tls: metricsEndpoint.tls,
    metricsAuth: cfg.metricsAuth,
  });

  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down");
    mirror.stop();
    await Promise.all([queue.shutdown(), rcQueue.shutdown(), prmQueue.shutdown(), templateQueue.shutdown()]);
    health.stop();
    await tasks.shutdown();
    for (const i of all) i.stop();
    nodes.stop();
    await leader?.release();
    server.close();
    metricsEndpoint.close();
    process.exit(code);
  };
  process.on("SIGTERM", () => void shutdown(0));
  process.on("SIGINT", () => void shutdown(0));

  if (leader) {
    log.info("waiting to become leader", { lease: `${cfg.leaderElectionNamespace}/${cfg.leaderElectionId}` });
    await leader.acquire();
  }
  for (const i of all) i.start();
  await Promise.all(all.map((i) => i.synced));
  synced = true;
  markSynced();
  log.info("caches synced; working", { namespace: cfg.namespace ?? "(all)", concurrency: cfg.concurrency });
  if (leader) {
    await leader.holdUntilLost();
    if (!stopping) {
      log.error("lost leadership; exiting so a fresh process can stand by");
      await shutdown(1);
    }
  }
}

let cfg: Config | "help";
try {
  cfg = parseConfig(process.argv.slice(2), process.env);
} catch (e) {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n\n${usage()}`);
  process.exit(2);
}
if (cfg === "help") {
  process.stdout.write(usage());
} else {
  run(cfg).catch((e: unknown) => {
    process.stderr.write(
      `${JSON.stringify({ level: "error", msg: "controller failed", err: e instanceof Error ? e.message : String(e) })}\n`,
    );
    process.exit(1);
  });
}
