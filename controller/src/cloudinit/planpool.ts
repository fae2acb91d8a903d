/**
 * Plans bootstrap data off the event loop: in a small pool of worker threads, each with its own
 * heap limit, each plan with a time limit, behind a bounded queue. 1 MiB of YAML with 20,000
 * tiny entries takes about a second of CPU and 80 MiB of heap to parse (many seconds on a loaded
 * machine); on the event loop that stalled every other reconcile, the lease and the probes.
 *
 * Going over the time or heap limit is a terminal InvalidBootstrapData naming the limit (the
 * same data would go over it again); a full queue is a transient PlanBusy (retried later).
 */
import { Worker, type WorkerOptions } from "node:worker_threads";
import { BootstrapDataError, BootstrapErrorReason, type Plan, type PlanOptions } from "./plan.js";
import type { PlanAnswer, PlanRequest } from "./planworker.js";

export interface PlanPoolOptions {
  /** Worker threads at most (started on demand, kept while idle). */
  workers: number;
  /** Plans waiting for a worker at most; more are refused with PlanBusy. */
  queue: number;
  /** Wall time one plan may take in its worker. */
  timeoutMs: number;
  /** Old-generation heap of each worker, in MiB (V8's resourceLimits). */
  heapMiB: number;
}

export const PLAN_POOL_DEFAULTS: PlanPoolOptions = { workers: 2, queue: 256, timeoutMs: 3000, heapMiB: 64 };

/** Too many plans waiting: try again later (not a verdict on the data). */
export class PlanBusy extends Error {
  constructor(queue: number) {
    super(`${queue} bootstrap data plans are waiting already`);
    this.name = "PlanBusy";
  }
}

/**
 * The worker's module: the .ts source under the TypeScript loader (tests, `npm start`), the
 * bundled `planworker.mjs` beside the controller's bundle otherwise (controller/scripts/build.ts).
 */
function newWorker(options: WorkerOptions): Worker {
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./planworker.mjs", import.meta.url), options);
  // Under tsx a worker needs the loader registered in its own thread before it imports the source.
  const src = new URL("./planworker.ts", import.meta.url).href;
  return new Worker(`import("tsx/esm/api").then((m) => { m.register(); return import(${JSON.stringify(src)}); });`, {
    ...options,
    eval: true,
  });
}

interface Job {
  req: Omit<PlanRequest, "id">;
  resolve(p: Plan): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job?: { id: number; job: Job; timer: NodeJS.Timeout };
}

export class PlanPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Job[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly opts: PlanPoolOptions = PLAN_POOL_DEFAULTS) {}

  /** The plan of `value`, or a BootstrapDataError (terminal), PlanBusy (transient). */
  plan(value: string, format: string | undefined, opts: PlanOptions): Promise<Plan> {
    if (this.closed) return Promise.reject(new PlanBusy(0));
    if (this.waiting.length >= this.opts.queue) return Promise.reject(new PlanBusy(this.waiting.length));
    return new Promise((resolve, reject) => {
      this.waiting.push({ req: { value, format, opts }, resolve, reject });
      this.pump();
    });
  }

  /** Stops every worker; plans in flight fail with PlanBusy. */
  async close(): Promise<void> {
    this.closed = true;
    for (const j of this.waiting.splice(0)) j.reject(new PlanBusy(0));
    await Promise.all(this.slots.splice(0).map((s) => this.stop(s, new PlanBusy(0))));
  }

  /** Worker threads running now (for tests). */
  get workers(): number {
    return this.slots.length;
  }

  /** Starts a worker ahead of the first plan (a worker's start costs tens of ms of CPU). */
  warm(): void {
    if (this.slots.length === 0 && !this.closed) this.spawn();
  }

  private pump(): void {
    while (this.waiting.length > 0) {
      const slot = this.slots.find((s) => s.ready && !s.job);
      if (!slot) {
        // A worker on its way counts as free: it takes the next plan when it is ready.
        if (this.slots.length < this.opts.workers && this.slots.every((s) => s.ready)) this.spawn();
        return;
      }
      this.run(slot, this.waiting.shift() as Job);
    }
  }

  private spawn(): Slot {
    const worker = newWorker({
      resourceLimits: {
        maxOldGenerationSizeMb: this.opts.heapMiB,
        maxYoungGenerationSizeMb: Math.max(4, Math.round(this.opts.heapMiB / 8)),
      },
      // No environment of the controller's (it holds no secret today; it never should reach here).
      env: {},
      stdout: false,
      stderr: false,
    });
    worker.unref();
    const slot: Slot = { worker, ready: false };
    worker.on("message", (a: PlanAnswer | "ready") => {
      if (a === "ready") {
        slot.ready = true;
        // An idle worker never keeps the process alive (a job refs it while it runs).
        worker.unref();
        return this.pump();
      }
      const cur = slot.job;
      if (!cur || cur.id !== a.id) return;
      clearTimeout(cur.timer);
      slot.job = undefined;
      slot.worker.unref();
      if (a.ok) cur.job.resolve(a.plan);
      else
        cur.job.reject(
          new BootstrapDataError(
            a.reason ?? BootstrapErrorReason.Invalid,
            a.reason ? a.message : `the bootstrap data could not be planned (${a.message})`,
          ),
        );
      this.pump();
    });
    const gone = (e?: Error) => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      const cur = slot.job;
      slot.job = undefined;
      if (cur) {
        clearTimeout(cur.timer);
        cur.job.reject(
          (e as { code?: string } | undefined)?.code === "ERR_WORKER_OUT_OF_MEMORY"
            ? new BootstrapDataError(
                BootstrapErrorReason.Invalid,
                `planning the bootstrap data needs more than ${this.opts.heapMiB} MiB of memory, the limit`,
              )
            : new BootstrapDataError(
                BootstrapErrorReason.Invalid,
                `the bootstrap data's planner stopped (${e?.message ?? "exited"})`,
              ),
        );
      }
      if (!this.closed) this.pump();
    };
    worker.on("error", gone);
    worker.on("exit", () => gone());
    this.slots.push(slot);
    return slot;
  }

  private run(slot: Slot, job: Job): void {
    const id = this.nextId++;
    const timer = setTimeout(() => {
      if (slot.job?.id !== id) return;
      slot.job = undefined;
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      void slot.worker.terminate();
      job.reject(
        new BootstrapDataError(
          BootstrapErrorReason.Invalid,
          `planning the bootstrap data took more than ${this.opts.timeoutMs / 1000} s, the limit (data this large or this deeply structured is not accepted)`,
        ),
      );
      this.pump();
    }, this.opts.timeoutMs);
    slot.job = { id, job, timer };
    slot.worker.ref();
    slot.worker.postMessage({ id, ...job.req } satisfies PlanRequest);
  }

  private async stop(slot: Slot, e: Error): Promise<void> {
    const cur = slot.job;
    slot.job = undefined;
    if (cur) {
      clearTimeout(cur.timer);
      cur.job.reject(e);
    }
    await slot.worker.terminate();
  }
}

let shared: PlanPool | undefined;

/** The controller's pool (one per process). */
export function planPool(): PlanPool {
  if (!shared) {
    shared = new PlanPool();
    shared.warm();
  }
  return shared;
}
