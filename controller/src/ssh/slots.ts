/**
 * Fair SSH slots: how many SSH tasks run at once, and who gets the next free slot.
 *
 * Tasks come in lanes, each with its own slots, so one kind of work cannot hold up another:
 * bootstraps (minutes to hours: a run is followed to its end), cleanups (a delete, a pool
 * release, stopping a run) and probes (a short read-only command). Within a lane a namespace
 * holds at most `perNamespace` slots, so a tenant with 100 machines at addresses that never
 * answer (each dial waits up to its `connectSeconds`, ≤ 600) holds only its share, and the
 * other namespaces keep the rest. A freed slot goes to the waiting namespace that holds the
 * fewest slots of the lane (max-min fairness), ties to the one served longest ago; within a
 * namespace, first come first served.
 *
 * Written here because the queue libraries on npm (p-limit, p-queue, bottleneck) limit one
 * global or per-key concurrency, not a share per key within a global limit; the rules are a
 * few lines and pure (`pickNamespace`), so they are table-tested.
 */

export const LANES = ["bootstrap", "cleanup", "probe"] as const;
export type Lane = (typeof LANES)[number];

export interface LaneLimits {
  /** Slots of the lane, all namespaces together. */
  total: number;
  /** Slots of the lane one namespace may hold at once. */
  perNamespace: number;
}

export type SlotLimits = Record<Lane, LaneLimits>;

/**
 * The limits from the flags: the lanes' sizes and the share of each lane one namespace may
 * hold (rounded up, at least 1).
 */
export function slotLimits(o: {
  bootstrap: number;
  cleanup: number;
  probe: number;
  namespaceShare: number;
}): SlotLimits {
  const lane = (total: number): LaneLimits => ({
    total,
    perNamespace: Math.min(total, Math.max(1, Math.ceil(total * o.namespaceShare))),
  });
  return { bootstrap: lane(o.bootstrap), cleanup: lane(o.cleanup), probe: lane(o.probe) };
}

/**
 * Which namespace gets the next free slot of a lane: among those with a waiter and under their
 * cap, the one holding the fewest; ties go to the earliest in `order` (namespaces in the order
 * they were last served, least recent first). Undefined when the lane is full or nobody may go.
 */
export function pickNamespace(
  held: ReadonlyMap<string, number>,
  waiting: ReadonlySet<string>,
  order: readonly string[],
  limits: LaneLimits,
): string | undefined {
  let inUse = 0;
  for (const n of held.values()) inUse += n;
  if (inUse >= limits.total) return undefined;
  let best: string | undefined;
  let bestHeld = Number.POSITIVE_INFINITY;
  for (const ns of order) {
    if (!waiting.has(ns)) continue;
    const h = held.get(ns) ?? 0;
    if (h >= limits.perNamespace) continue;
    if (h < bestHeld) {
      best = ns;
      bestHeld = h;
    }
  }
  return best;
}

/** The namespace of a task key: `<ns>/<name>`, or `<prefix>:<what>:<ns>/<name>` for pool machines. */
export function namespaceOfKey(key: string): string {
  const k = key.startsWith("prm:") ? key.slice(key.indexOf(":", 4) + 1) : key;
  const slash = k.indexOf("/");
  return slash < 0 ? "" : k.slice(0, slash);
}

/** Thrown by `acquire` when its signal aborts before a slot was given. */
export class SlotCancelled extends Error {
  constructor() {
    super("cancelled while waiting for an SSH slot");
  }
}

interface Waiter {
  give(release: () => void): void;
}

/** The slots of one lane. */
export class FairLane {
  private readonly held = new Map<string, number>();
  private readonly queues = new Map<string, Waiter[]>();
  /** Namespaces in the order they were last given a slot (least recent first). */
  private order: string[] = [];

  constructor(readonly limits: LaneLimits) {}

  /** Slots in use, in all or one namespace. */
  inUse(namespace?: string): number {
    if (namespace !== undefined) return this.held.get(namespace) ?? 0;
    let n = 0;
    for (const h of this.held.values()) n += h;
    return n;
  }

  /** Tasks waiting for a slot, in all or one namespace. */
  waiting(namespace?: string): number {
    if (namespace !== undefined) return this.queues.get(namespace)?.length ?? 0;
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  /**
   * Resolves with a release function once a slot is given (release it exactly once; later calls
   * do nothing); rejects with SlotCancelled when `signal` aborts first.
   */
  acquire(namespace: string, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new SlotCancelled());
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        give: (release) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
      };
      const onAbort = () => {
        const q = this.queues.get(namespace);
        const i = q?.indexOf(w) ?? -1;
        if (q && i >= 0) {
          q.splice(i, 1);
          if (q.length === 0) this.queues.delete(namespace);
          if (q.length === 0 && !this.held.has(namespace)) this.order = this.order.filter((x) => x !== namespace);
          reject(new SlotCancelled());
        }
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const q = this.queues.get(namespace);
      if (q) q.push(w);
      else this.queues.set(namespace, [w]);
      if (!this.order.includes(namespace)) this.order.push(namespace);
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (;;) {
      const ns = pickNamespace(this.held, new Set(this.queues.keys()), this.order, this.limits);
      if (ns === undefined) return;
      const q = this.queues.get(ns) as Waiter[];
      const w = q.shift() as Waiter;
      if (q.length === 0) this.queues.delete(ns);
      this.held.set(ns, (this.held.get(ns) ?? 0) + 1);
      this.order = [...this.order.filter((x) => x !== ns), ns];
      let released = false;
      w.give(() => {
        if (released) return;
        released = true;
        const h = (this.held.get(ns) ?? 1) - 1;
        if (h > 0) this.held.set(ns, h);
        else this.held.delete(ns);
        // Namespaces with nothing held or waiting are forgotten (the order stays bounded).
        if (h <= 0 && !this.queues.has(ns)) this.order = this.order.filter((x) => x !== ns);
        this.dispatch();
      });
    }
  }
}

/** All lanes. */
export class FairSlots {
  readonly lanes: Record<Lane, FairLane>;
  constructor(limits: SlotLimits) {
    this.lanes = {
      bootstrap: new FairLane(limits.bootstrap),
      cleanup: new FairLane(limits.cleanup),
      probe: new FairLane(limits.probe),
    };
  }
  acquire(lane: Lane, namespace: string, signal?: AbortSignal): Promise<() => void> {
    return this.lanes[lane].acquire(namespace, signal);
  }
}
