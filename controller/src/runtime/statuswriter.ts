/**
 * The one status-write policy: when a status a reconcile computed reaches the API server.
 *
 * What a user or Cluster API acts on (the caller says `urgent`: Ready flipping, provisioned, a
 * terminal failure, deletion) is written at once. Progress alone (a new step, a new waiting
 * reason, a message) is not, because each status write of ours sets off a Machine update by
 * Cluster API too:
 *
 * 1. per object, at most one progress write every `intervalMs` (a long step still shows while
 *    it lasts; a bootstrap of seconds gets no progress write beyond its first);
 * 2. a pass may ask to `hold` its progress (a bootstrap's "connecting", which would race the
 *    start record on the same object and usually gives way to a step a moment later);
 * 3. progress waits while start records are in flight (`starts`: a machine waits for its record
 *    before its first command, so nothing may compete with it), `maxStartWaitMs` at most;
 * 4. progress shares one budget across the controller (`budget`): when 50 bootstraps start at
 *    once, their progress writes are spread out and most fold into the provisioned write.
 *
 * A deferred decision says in how many ms to come back; the caller keeps the computed status
 * (nothing a deferred pass found is lost) and requeues. The clock is injected for tests.
 * docs/performance.md has the measurements behind each number.
 */
import { PriorityWrites, WriteBudget } from "./budget.js";

export interface StatusWriterOptions {
  /** Minimum time between two progress-only writes of one object. */
  intervalMs?: number;
  /** Progress-only writes across all objects: `perSecond` on average, `burst` at once. */
  perSecond?: number;
  burst?: number;
  /** The longest a progress write waits for start records in flight. */
  maxStartWaitMs?: number;
  now?: () => number;
}

export interface WriteRequest {
  /** Must reach the API server now (see above). */
  urgent: boolean;
  /** Hold a progress write back this long (e.g. while a start record is in flight). */
  holdMs?: number;
}

export class StatusWriter {
  private readonly lastWrite = new Map<string, number>();
  private readonly budget: WriteBudget;
  /** Start records in flight, which progress writes yield to. */
  readonly starts: PriorityWrites;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(wake: (key: string) => void, o: StatusWriterOptions = {}) {
    this.now = o.now ?? Date.now;
    this.intervalMs = o.intervalMs ?? 10_000;
    this.budget = new WriteBudget(o.perSecond ?? 5, o.burst ?? 10, 5_000, this.now);
    this.starts = new PriorityWrites(wake, o.maxStartWaitMs ?? 5_000, this.now);
  }

  /** 0: write now. Else the write is deferred: come back in this many ms. */
  decide(key: string, req: WriteRequest): number {
    if (req.urgent) {
      this.budget.forget(key);
      this.starts.forget(key);
      return 0;
    }
    const since = this.now() - (this.lastWrite.get(key) ?? Number.NEGATIVE_INFINITY);
    if (since < this.intervalMs) return this.intervalMs - since;
    if (req.holdMs) return req.holdMs;
    const held = this.starts.defer(key);
    if (held > 0) return held;
    return this.budget.take(key);
  }

  /** A status write of `key` succeeded. */
  wrote(key: string): void {
    this.lastWrite.set(key, this.now());
  }

  /** `key` is gone: drop what is remembered of it. */
  forget(key: string): void {
    this.lastWrite.delete(key);
    this.budget.forget(key);
    this.starts.forget(key);
  }
}
