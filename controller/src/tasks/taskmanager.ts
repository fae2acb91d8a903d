/**
 * Slow work off the reconcile loop, tracked per object: at most one task per key, each of a
 * kind, waiting for a slot before it runs, cancellable, with an optional time limit. The
 * reconciler starts a task, reads its state on later passes, and is told (`notify`) when it
 * changes or ends. What a task does is the body it is given: this module knows nothing of SSH or
 * of the API (the structure check keeps it so); `host/session/` holds the conversations with
 * machines that the controllers run as tasks.
 *
 * Hand-written: the job queues on npm (p-queue, bottleneck) limit concurrency but know no per-key
 * exclusivity, and the ordering below is what the delete path relies on.
 *
 * Stop, then clean: `cancel(key)` aborts the task and forgets it at once (so the next pass may
 * start another), but a task started for the same key afterwards waits until the cancelled
 * one has ended (its connection closed, its slot given back) before it takes a slot of its own.
 * So a cleanup never talks to a machine while the bootstrap it replaced still does.
 */

/** A task's state, read by the reconcilers. Kinds add their own optional fields. */
export interface Task<K extends string = string> {
  kind: K;
  running: boolean;
  startedAt: Date;
  finishedAt?: Date;
  /** Set by the body: whether the work succeeded. */
  ok?: boolean;
  /** The manager's time limit for the task ran out, and its body was aborted. */
  timedOut?: boolean;
  abort: AbortController;
}

/** Waits for a slot for a task of `kind` on `key`; resolves to its release. */
export type Acquire = (kind: string, key: string, signal: AbortSignal) => Promise<() => void>;

export interface TaskManagerOptions<T> {
  acquire: Acquire;
  /** Told whenever a task's state changes in the background (it ended, or its body says so). */
  notify(key: string): void;
  /** Records an error the body threw (or a cancelled wait for a slot) on the task. */
  failed(t: T, e: unknown): void;
  /** Called once per task when it has ended (metrics). */
  finished?(t: T): void;
  /** How long a new task waits at most for a cancelled task of the same key to end. */
  stopWaitMs?: number;
  now?: () => Date;
}

/** The error a task gets when it is cancelled while it waits for a slot. */
export class TaskCancelled extends Error {
  constructor() {
    super("cancelled");
  }
}

/**
 * A task's body: the work, given the task (to report on), the signal that cancels it, and a way
 * to say the task changed while it runs.
 */
export type Body<T> = (t: T, signal: AbortSignal, changed: () => void) => Promise<void>;

export class TaskManager<T extends Task> {
  private readonly tasks = new Map<string, T>();
  /** Cancelled tasks that have not ended yet, by key: what a new task of the key waits for. */
  private readonly stopping = new Map<string, Promise<void>>();
  private readonly now: () => Date;

  constructor(private readonly opts: TaskManagerOptions<T>) {
    this.now = opts.now ?? (() => new Date());
  }

  /**
   * Starts a task for `key` (replacing a finished one; a running one is returned as it is:
   * at most one task per key runs). `init` gives the kind's own fields their first values.
   */
  start(key: string, kind: T["kind"], body: Body<T>, opts: { timeoutMs?: number; init?: Partial<T> } = {}): T {
    const have = this.tasks.get(key);
    if (have?.running) return have;
    const t = { ...opts.init, kind, running: true, startedAt: this.now(), abort: new AbortController() } as T;
    this.tasks.set(key, t);
    const changed = () => {
      if (this.tasks.get(key) === t) this.opts.notify(key);
    };
    const before = this.stopping.get(key);
    let ended!: () => void;
    const done = new Promise<void>((r) => {
      ended = r;
    });
    t.abort.signal.addEventListener(
      "abort",
      () => {
        if (t.running) this.stopping.set(key, done);
      },
      { once: true },
    );
    void this.run(key, t, body, changed, before, opts.timeoutMs).finally(() => {
      if (this.stopping.get(key) === done) this.stopping.delete(key);
      ended();
    });
    return t;
  }

  private async run(
    key: string,
    t: T,
    body: Body<T>,
    changed: () => void,
    before: Promise<void> | undefined,
    timeoutMs: number | undefined,
  ): Promise<void> {
    let release: (() => void) | undefined;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            t.timedOut = true;
            t.abort.abort();
          }, timeoutMs);
    try {
      if (before) await bounded(before, this.opts.stopWaitMs ?? 15_000);
      if (t.abort.signal.aborted) throw new TaskCancelled();
      release = await this.opts.acquire(t.kind, key, t.abort.signal).catch(() => {
        throw new TaskCancelled();
      });
      await body(t, t.abort.signal, changed);
    } catch (e) {
      t.ok = false;
      this.opts.failed(t, e);
    } finally {
      clearTimeout(timer);
      release?.();
      t.running = false;
      t.finishedAt = this.now();
      this.opts.finished?.(t);
      changed();
    }
  }

  get(key: string): T | undefined {
    return this.tasks.get(key);
  }

  /** Forgets a finished task (so the next reconcile may start anew); a running one stays. */
  clear(key: string): void {
    const t = this.tasks.get(key);
    if (t && !t.running) this.tasks.delete(key);
  }

  /** Aborts a task and forgets it; a task started for the key later waits for it to end. */
  cancel(key: string): void {
    this.tasks.get(key)?.abort.abort();
    this.tasks.delete(key);
  }

  /** Number of tasks known (running or finished and not yet cleared). */
  get size(): number {
    return this.tasks.size;
  }

  /** Cancels everything and waits (at most `timeoutMs`) for the tasks to end. */
  async shutdown(timeoutMs = 10_000): Promise<void> {
    for (const t of this.tasks.values()) t.abort.abort();
    const ending = [...this.stopping.values()];
    await bounded(
      Promise.all(ending).then(() => {}),
      timeoutMs,
    );
  }
}

/** `p`, or nothing once `ms` have passed. */
async function bounded(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p,
    new Promise<void>((r) => {
      timer = setTimeout(r, ms);
    }),
  ]);
  clearTimeout(timer);
}
