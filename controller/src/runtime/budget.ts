/**
 * A budget for writes that only inform (a bootstrap's progress in a status): at most `perSecond`
 * on average across the controller, `burst` at once. A caller over budget gets a slot of its own
 * (the time to come back, when its write is allowed), as a reservation in a token bucket, so
 * that waiting callers do not poll. Written here because it is a dozen lines tied to the
 * reconcile's keys; the rate-limit libraries on npm limit calls, not keyed reservations.
 */
export class WriteBudget {
  private tokens: number;
  private last: number;
  private readonly slots = new Map<string, number>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    /**
     * The longest wait given: the debt of reservations stops there. Writes that fail (an API
     * server that is away) reserve again on each retry; without a floor, an outage would leave
     * a debt of minutes that every progress write pays after it.
     */
    private readonly maxWaitMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** 0 when `key` may write now; else in how many ms it may (its slot, kept until then). */
  take(key: string): number {
    const now = this.now();
    // Slots of keys that never came back (deleted objects) go once they are past.
    if (this.slots.size > 1000) for (const [k, at] of this.slots) if (at < now - 60_000) this.slots.delete(k);
    const slot = this.slots.get(key);
    if (slot !== undefined) {
      if (now >= slot) {
        this.slots.delete(key);
        return 0;
      }
      return slot - now;
    }
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    this.tokens = Math.max(this.tokens - 1, -(this.perSecond * this.maxWaitMs) / 1000);
    if (this.tokens >= 0) return 0;
    const wait = Math.ceil((-this.tokens / this.perSecond) * 1000);
    this.slots.set(key, now + wait);
    return wait;
  }

  /** Drops `key`'s slot (it wrote for another reason, or is gone). */
  forget(key: string): void {
    this.slots.delete(key);
  }
}

/**
 * Writes that others must not compete with (a bootstrap's start record: the machine waits for it
 * before its first command), and the keys whose informing writes wait until none is in flight.
 * At a burst of starts, the progress of machines already running (and Cluster API's Machine
 * update that each progress write sets off) would otherwise queue in the API server beside the
 * records that hold the other machines back. A waiting key is woken (`wake`) once the last
 * write in flight ends, whether it succeeded or not, and waits `maxWaitMs` at most.
 */
export class PriorityWrites {
  private inFlight = 0;
  /** Waiting key -> since when. */
  private readonly waiting = new Map<string, number>();

  constructor(
    private readonly wake: (key: string) => void,
    /** The longest a key waits: starts that keep overlapping must not hold progress back for good. */
    private readonly maxWaitMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  get busy(): boolean {
    return this.inFlight > 0;
  }

  /** Runs a write that others yield to. */
  async run<T>(write: () => Promise<T>): Promise<T> {
    this.inFlight++;
    try {
      return await write();
    } finally {
      if (--this.inFlight === 0 && this.waiting.size > 0) {
        const keys = [...this.waiting.keys()];
        this.waiting.clear();
        for (const k of keys) this.wake(k);
      }
    }
  }

  /**
   * 0: `key`'s informing write may go now (nothing in flight, or it has waited `maxWaitMs`
   * already). Else it waits: woken when nothing is in flight, or at the latest in the ms returned.
   */
  defer(key: string): number {
    if (this.inFlight === 0) return 0;
    const now = this.now();
    const since = this.waiting.get(key);
    if (since === undefined) {
      this.waiting.set(key, now);
      return this.maxWaitMs;
    }
    if (now - since < this.maxWaitMs) return since + this.maxWaitMs - now;
    this.waiting.delete(key);
    return 0;
  }

  /** Drops a waiting key (it wrote for another reason, or is gone). */
  forget(key: string): void {
    this.waiting.delete(key);
  }
}
