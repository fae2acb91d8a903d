/**
 * A work queue keyed by object, as controller-runtime's: a key waits at most once (duplicates
 * collapse), a key is processed by one worker at a time (a key added while it is processed runs
 * again afterwards), failures are retried with per-key exponential backoff, and delayed requeues
 * are timers that collapse with earlier ones. Written here because @kubernetes/client-node has no
 * work queue and the JavaScript queue libraries do not key by object or serialize per key.
 */
export interface QueueOptions {
  concurrency: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  onDepth?: (depth: number) => void;
}

export type Handler = (key: string) => Promise<{ requeueAfterMs?: number } | undefined>;

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private running = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly handler: Handler,
    private readonly opts: QueueOptions,
  ) {}

  /** Queues a key now. */
  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.opts.onDepth?.(this.queue.length);
    this.pump();
  }

  /** Queues a key after `ms`; an earlier pending timer for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /**
   * Queues a key after its backoff delay, which doubles with each consecutive failure.
   * `priorFailures` counts failures this process did not see (read back from the object after a
   * restart), so the backoff goes on from there instead of starting over.
   */
  addRateLimited(key: string, maxDelayMs = this.opts.maxDelayMs ?? 300_000, priorFailures = 0): number {
    const n = Math.max(this.failures.get(key) ?? 0, priorFailures);
    this.failures.set(key, n + 1);
    const delay = Math.min((this.opts.baseDelayMs ?? 500) * 2 ** n, maxDelayMs);
    this.addAfter(key, delay);
    return delay;
  }

  /** Forgets a key's failures (after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /**
   * Forgets every key's failures and runs at once the keys waiting out a backoff: called when
   * the API server is back after an outage, so that what failed meanwhile does not wait minutes.
   */
  retryFailedNow(): void {
    const keys = [...this.failures.keys()];
    this.failures.clear();
    for (const key of keys) {
      const t = this.timers.get(key);
      if (t) {
        clearTimeout(t.timer);
        this.timers.delete(key);
      }
      this.add(key);
    }
  }

  get depth(): number {
    return this.queue.length;
  }

  /** Stops taking work; resolves when running handlers have returned. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
    if (this.running > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    while (!this.stopped && this.running < this.opts.concurrency && this.queue.length > 0) {
      const key = this.queue.shift() as string;
      this.queued.delete(key);
      this.opts.onDepth?.(this.queue.length);
      this.active.add(key);
      this.running++;
      void this.process(key);
    }
  }

  private async process(key: string): Promise<void> {
    try {
      const res = await this.handler(key);
      if (res?.requeueAfterMs !== undefined) this.addAfter(key, res.requeueAfterMs);
    } catch {
      // The handler reports and logs its errors; the queue only retries.
      this.addRateLimited(key);
    } finally {
      this.active.delete(key);
      this.running--;
      if (this.dirty.delete(key)) this.add(key);
      if (this.running === 0 && this.stopped) for (const w of this.idleWaiters.splice(0)) w();
      this.pump();
    }
  }
}

/**
 * Keys of low-priority work that yield to another queue's backlog: they are handed to `run`
 * once `busy()` is false, or after `maxWaitMs` at the latest. A key collapses with itself while
 * it waits. The pool machines' status mirrors their holders' progress; while RemoteMachines
 * wait for a worker (a burst of claims), those writes would compete with the claims and the
 * bootstraps for the API server, and nothing waits on them but people reading the pool.
 */
export class Yielding {
  /** Key -> when it started waiting. */
  private readonly waiting = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly run: (key: string) => void,
    private readonly busy: () => boolean,
    private readonly maxWaitMs = 5000,
    private readonly checkEveryMs = 100,
    /** The clock (tests set it, so that a loaded machine's late timers change nothing). */
    private readonly now: () => number = Date.now,
  ) {}

  /** Runs `key` now when nothing is waiting elsewhere, else once the backlog is gone. */
  add(key: string): void {
    if (this.waiting.has(key)) return;
    if (this.waiting.size === 0 && !this.busy()) {
      this.run(key);
      return;
    }
    this.waiting.set(key, this.now());
    this.timer ??= setInterval(() => this.flush(), this.checkEveryMs).unref();
  }

  /** Forgets a waiting key (it is being run anyway). */
  delete(key: string): void {
    this.waiting.delete(key);
  }

  get size(): number {
    return this.waiting.size;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.waiting.clear();
  }

  private flush(): void {
    const now = this.now();
    const all = !this.busy();
    for (const [key, since] of this.waiting) {
      if (!all && now - since < this.maxWaitMs) continue;
      this.waiting.delete(key);
      this.run(key);
    }
    if (this.waiting.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
