/**
 * Plans bootstrap data off the event loop: in a small pool of worker threads, each with its own
 * heap limit, each plan with a time limit, behind a bounded queue. 1 MiB of YAML with 20,000
 * tiny entries takes about a second of CPU and 80 MiB of heap to parse (many seconds on a loaded
 * machine); on the event loop that stalled every other reconcile, the lease and the probes.
 *
 * Going over the time or heap limit is a terminal InvalidBootstrapData naming the limit (the
 * same data would go over it again); a full queue is a transient PlanBusy (retried later).
 *
 * The time limit is CPU time of the worker's thread where the kernel tells it (Linux), so that a
 * loaded machine or a CPU-throttled Pod, which stretches wall time, cannot turn valid data into a
 * terminal refusal; wall time is still capped at ten times the limit. Elsewhere it is
 * wall time.
 */
import { readFileSync } from "node:fs";
import { Worker, type WorkerOptions } from "node:worker_threads";
import { BootstrapDataError, BootstrapErrorReason, type Plan, type PlanOptions } from "./plan.js";
import type { PlanAnswer, PlanRequest } from "./planworker.js";

export interface PlanPoolOptions {
  /** Worker threads at most (started on demand, kept while idle). */
  workers: number;
  /** Plans waiting for a worker at most; more are refused with PlanBusy. */
  queue: number;
  /** CPU time one plan may take in its worker (wall time where the thread's CPU time is unknown). */
  timeoutMs: number;
  /** Old-generation heap of each worker, in MiB (V8's resourceLimits). */
  heapMiB: number;
  /** Wall time a plan may take, in times timeoutMs (10 by default). */
  wallFactor?: number;
  /** Reads a worker thread's CPU time (tests give a fake); /proc's by default. */
  threadCpuMs?: (tid: number | undefined) => number | undefined;
}

export const PLAN_POOL_DEFAULTS: PlanPoolOptions = { workers: 2, queue: 256, timeoutMs: 3000, heapMiB: 64 };

/** However little CPU a plan gets, it ends after this many times its limit of wall time. */
const WALL_FACTOR_DEFAULT = 10;

/** CPU time (user + system) of this process's thread `tid` in ms, from /proc; undefined if unknown. */
export function threadCpuMs(tid: number | undefined): number | undefined {
  if (tid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    // The fields after the command name (which may hold spaces and parentheses): utime and stime
    // are the 12th and 13th, in clock ticks of 10 ms (USER_HZ is 100 on every Linux ABI).
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return undefined;
  }
}

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
  /** The worker thread's id for the kernel, when it could say (Linux). */
  tid?: number;
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
    worker.on("message", (a: PlanAnswer | { ready: number | undefined }) => {
      if ("ready" in a) {
        slot.ready = true;
        slot.tid = a.ready;
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
    const started = Date.now();
    const cpuMs = this.opts.threadCpuMs ?? threadCpuMs;
    const cpuAtStart = cpuMs(slot.tid);
    const wallMs = this.opts.timeoutMs * (this.opts.wallFactor ?? WALL_FACTOR_DEFAULT);
    const check = () => {
      if (slot.job?.id !== id) return;
      const cpu = cpuMs(slot.tid);
      const used = cpu !== undefined && cpuAtStart !== undefined ? cpu - cpuAtStart : undefined;
      const waited = Date.now() - started;
      if (used !== undefined && used < this.opts.timeoutMs && waited < wallMs) {
        // Descheduled, not busy: look again once the rest of its CPU time could have been used.
        slot.job.timer = setTimeout(check, Math.max(100, this.opts.timeoutMs - used));
        return;
      }
      slot.job = undefined;
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      void slot.worker.terminate();
      job.reject(
        new BootstrapDataError(
          BootstrapErrorReason.Invalid,
          used === undefined || used >= this.opts.timeoutMs
            ? `planning the bootstrap data took more than ${this.opts.timeoutMs / 1000} s, the limit (data this large or this deeply structured is not accepted)`
            : `planning the bootstrap data did not end within ${wallMs / 1000} s, the limit (data this large or this deeply structured is not accepted)`,
        ),
      );
      this.pump();
    };
    slot.job = { id, job, timer: setTimeout(check, this.opts.timeoutMs) };
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
