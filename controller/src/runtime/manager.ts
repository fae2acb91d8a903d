/**
 * The manager, as controller-runtime has one: the API client, caches, one queue per controller,
 * metrics, redaction, health, leader election and shutdown. It knows no kind: controllers ask it
 * for caches and a queue and register their own watches (controllers/<kind>/register.ts).
 *
 * Order it keeps: no reconcile runs before every cache has listed (a reconcile would report as
 * missing what is only not listed yet, e.g. a false SSHKeySecretNotFound at every start);
 * standby replicas start no cache; on SIGTERM the queues drain first, then the hooks registered
 * with `onStop` run (SSH tasks reach a safe point), then the caches stop and the Lease is released.
 */
import type { KubeConfig as KubeConfigT } from "@kubernetes/client-node";
import { KubeConfig } from "@kubernetes/client-node";
import { SecretWordIndex } from "../cloudinit/redact.js";
import type { Config } from "../config.js";
import { isConflict, KubeApi, type Resource } from "../kube/api.js";
import { startMetricsEndpoint } from "../security/metricsendpoint.js";
import { EventRecorder } from "./events.js";
import { serveHealth } from "./http.js";
import { Informer, type KObject } from "./informer.js";
import { LeaderElector } from "./leader.js";
import { type Logger, makeLogger } from "./log.js";
import { type Metrics, makeMetrics } from "./metrics.js";
import { type Handler, WorkQueue } from "./queue.js";

export class Manager {
  readonly kc: KubeConfigT;
  readonly metrics: Metrics;
  /** Secret words of every Secret read, so that none can reach a log line, Event or message. */
  readonly words = new SecretWordIndex();
  readonly log: Logger;
  readonly api: KubeApi;
  readonly events: EventRecorder;
  private readonly informers: Informer<KObject>[] = [];
  private readonly queues: WorkQueue[] = [];
  private readonly handlers = new Map<string, Handler>();
  private readonly beforeQueuesStop: (() => void)[] = [];
  private readonly afterQueuesStop: (() => void | Promise<void>)[] = [];
  private markSynced = () => {};
  private readonly cachesSynced = new Promise<void>((r) => {
    this.markSynced = r;
  });
  private synced = false;
  private stopping = false;

  constructor(private readonly cfg: Config) {
    this.kc = new KubeConfig();
    if (cfg.kubeconfig) this.kc.loadFromFile(cfg.kubeconfig);
    else this.kc.loadFromDefault();
    this.metrics = makeMetrics();
    this.log = makeLogger({ level: cfg.logLevel, redact: this.words.redact });
    this.api = new KubeApi(this.kc, {
      onRequest: (verb, resource, code) => this.metrics.apiRequests.inc({ verb, resource, code: String(code) }),
    });
    this.events = new EventRecorder(this.api, "capi-remote-controller", this.log, this.words.redact);
  }

  /** A cache of `resource` in the watched namespace, started with the others. */
  informer<T extends KObject>(
    resource: Resource,
    o: { labelSelector?: string; metadataOnly?: boolean; pageSize?: number; project?: (obj: T) => T } = {},
  ) {
    const inf = new Informer<T>(this.api, resource, this.log, {
      ...(this.cfg.namespace ? { namespace: this.cfg.namespace } : {}),
      ...(o.labelSelector ? { labelSelector: o.labelSelector } : {}),
      ...(o.project ? { project: o.project } : {}),
      ...(o.metadataOnly ? { metadataOnly: true } : {}),
      ...(o.pageSize ? { pageSize: o.pageSize } : {}),
      // When the API server is back after an outage (an informer relisted after failing), what
      // failed meanwhile is retried at once instead of after its grown backoff.
      onRecovered: () => {
        for (const q of this.queues) q.retryFailedNow();
      },
    });
    this.informers.push(inf as unknown as Informer<KObject>);
    return inf;
  }

  /**
   * The queue of controller `name`. Its reconcile is given later (`reconcileWith`), so that
   * what the reconcile needs (task manager, Node watcher) can be built with the queues in hand.
   */
  queue(name: string, concurrency: number): WorkQueue {
    const q = new WorkQueue(
      this.timed(name, (key) => {
        const h = this.handlers.get(name);
        if (!h) throw new Error(`no reconcile registered for ${name}`);
        return h(key);
      }),
      { concurrency, onDepth: (d) => this.metrics.queueDepth.set({ controller: name }, d) },
    );
    this.queues.push(q);
    return q;
  }

  reconcileWith(name: string, reconcile: Handler): void {
    this.handlers.set(name, reconcile);
  }

  /** Runs at shutdown: `first` before the queues drain, otherwise after them. */
  onStop(fn: () => void | Promise<void>, when: "first" | "afterQueues" = "afterQueues"): void {
    if (when === "first") this.beforeQueuesStop.push(fn as () => void);
    else this.afterQueuesStop.push(fn);
  }

  /** Waits for the caches, counts and times every reconcile, and logs failures once. */
  private timed(controller: string, fn: Handler): Handler {
    return async (key) => {
      await this.cachesSynced;
      const end = this.metrics.reconcileDuration.startTimer({ controller });
      try {
        const r = await fn(key);
        this.metrics.reconciles.inc({ controller, result: r?.requeueAfterMs ? "requeue" : "success" });
        return r;
      } catch (e) {
        this.metrics.reconciles.inc({ controller, result: "error" });
        this.metrics.reconcileErrors.inc({ controller });
        // A conflict means our cache was behind our own last write: retried shortly, not news.
        if (isConflict(e)) this.log.debug("write conflict; retrying with a fresh copy", { controller, object: key });
        else this.log.error("reconcile failed", { controller, object: key, err: e });
        throw e;
      } finally {
        end();
      }
    };
  }

  /** Health, leader election, caches; returns when leadership is lost (after shutting down). */
  async run(): Promise<void> {
    const cfg = this.cfg;
    const leader = cfg.leaderElect
      ? new LeaderElector(
          this.api,
          {
            namespace: cfg.leaderElectionNamespace,
            name: cfg.leaderElectionId,
            identity: cfg.identity,
            leaseDurationMs: cfg.leaseDurationMs,
            renewDeadlineMs: cfg.renewDeadlineMs,
            retryPeriodMs: cfg.retryPeriodMs,
          },
          this.log,
        )
      : undefined;
    const server = await serveHealth(cfg.healthAddress, {
      healthy: () => true,
      ready: () => this.synced || (leader !== undefined && !leader.isLeader),
    });
    const metrics = await startMetricsEndpoint(cfg, this.api, this.metrics.registry, this.log);
    this.log.info("serving health and metrics", {
      health: cfg.healthAddress,
      metrics: cfg.metricsAddress || "off",
      tls: metrics.tls,
      metricsAuth: cfg.metricsAuth,
    });
    const shutdown = async (code: number) => {
      if (this.stopping) return;
      this.stopping = true;
      this.log.info("shutting down");
      for (const f of this.beforeQueuesStop) f();
      await Promise.all(this.queues.map((q) => q.shutdown()));
      for (const f of this.afterQueuesStop) await f();
      for (const i of this.informers) i.stop();
      await leader?.release();
      server.close();
      metrics.close();
      process.exit(code);
    };
    process.on("SIGTERM", () => void shutdown(0));
    process.on("SIGINT", () => void shutdown(0));

    if (leader) {
      this.log.info("waiting to become leader", { lease: `${cfg.leaderElectionNamespace}/${cfg.leaderElectionId}` });
      await leader.acquire();
    }
    for (const i of this.informers) i.start();
    await Promise.all(this.informers.map((i) => i.synced));
    this.synced = true;
    this.markSynced();
    this.log.info("caches synced; working", { namespace: cfg.namespace ?? "(all)", concurrency: cfg.concurrency });
    if (leader) {
      await leader.holdUntilLost();
      if (!this.stopping) {
        this.log.error("lost leadership; exiting so a fresh process can stand by");
        await shutdown(1);
      }
    }
  }
}
