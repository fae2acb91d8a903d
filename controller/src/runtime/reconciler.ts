/**
 * The reconcile skeleton every controller shares, in Cluster API's shape:
 *
 *   get (gone: forget and stop) -> skip objects that are not ours -> finalizer -> scope ->
 *   paused? paused phases : deleting? delete phases : normal phases -> status -> one write
 *
 * Phases run in order over one scope; a phase returns `{ stop: true }` to end the list (later
 * phases depend on what it could not do), and may ask to come back (`requeueAfterMs`, the lowest
 * wins). A phase with `when` runs only in the states it names (e.g. the Node is looked for only
 * once provisioned), so one list holds every path instead of branches around it. Status is computed and written once, after the phases, even when a phase threw (what
 * was observed up to the error is still recorded; the error is rethrown afterwards so the queue
 * backs off), as cluster-api's deferred patch does. The write step decides whether to write now
 * (runtime/statuswriter.ts) and may return a delay to come back.
 */

export type Result = { requeueAfterMs?: number } | undefined;

export interface PhaseResult {
  /** End the phase list here. */
  stop?: boolean;
  /** Come back in this many ms (the lowest of all phases and the write wins). */
  requeueAfterMs?: number;
}

/** One step of a reconcile over scope S. */
export interface Phase<S> {
  name: string;
  /** Runs only when this holds (checked when its turn comes, after the phases before it). */
  when?(s: S): boolean;
  run(s: S): Promise<PhaseResult | undefined> | PhaseResult | undefined;
}

export interface ReconcilerSpec<T, S> {
  /** The object to reconcile (from the cache, or our own newer write); undefined when gone. */
  get(namespace: string, name: string): T | undefined;
  /** The object is gone: drop what is remembered of it. */
  gone?(key: string): void;
  /** Objects this controller leaves alone (e.g. managed by someone else). */
  skip?(obj: T): boolean;
  /** Whether the object is being deleted. */
  deleting(obj: T): boolean;
  /** Adds our finalizer when the object needs one (before any phase acts). */
  ensureFinalizer?(obj: T): Promise<T>;
  newScope(obj: T, key: string): S;
  /** Whether reconciling is paused (Cluster API's paused contract). */
  isPaused?(s: S): boolean;
  /** Phases while paused (typically: report Paused only). */
  paused?: Phase<S>[];
  normal: Phase<S>[];
  delete?: Phase<S>[];
  /**
   * Whether status is computed and written when a phase threw (default true, as cluster-api's
   * deferred patch). False leaves the object as it is until the retry.
   */
  statusOnFailure?: boolean;
  /** Computes the status from what the phases observed (in memory only). */
  setStatus(s: S): void;
  /** The one write decision: writes or defers; returns in how many ms to come back when deferred. */
  writeStatus(s: S): Promise<number | undefined>;
}

const lowest = (a: number | undefined, b: number | undefined) =>
  a === undefined ? b : b === undefined ? a : Math.min(a, b);

/** Runs phases in order until one stops; the lowest requeue asked for. */
export async function runPhases<S>(phases: readonly Phase<S>[], s: S): Promise<number | undefined> {
  let requeue: number | undefined;
  for (const p of phases) {
    if (p.when && !p.when(s)) continue;
    const r = await p.run(s);
    requeue = lowest(requeue, r?.requeueAfterMs);
    if (r?.stop) break;
  }
  return requeue;
}

/** Builds a reconcile function of a queue key (`namespace/name`) from a spec. */
export function defineReconciler<T, S>(spec: ReconcilerSpec<T, S>): (key: string) => Promise<Result> {
  return async (key) => {
    const [ns, name] = key.split("/") as [string, string];
    let obj = spec.get(ns, name);
    if (!obj) {
      spec.gone?.(key);
      return undefined;
    }
    if (spec.skip?.(obj)) return undefined;
    const deleting = spec.deleting(obj);
    if (!deleting && spec.ensureFinalizer) obj = await spec.ensureFinalizer(obj);
    const s = spec.newScope(obj, key);
    const phases = spec.isPaused?.(s) ? (spec.paused ?? []) : deleting ? (spec.delete ?? []) : spec.normal;
    let requeue: number | undefined;
    let failure: unknown;
    try {
      requeue = await runPhases(phases, s);
    } catch (e) {
      failure = e;
    }
    if (failure !== undefined && spec.statusOnFailure === false) throw failure;
    spec.setStatus(s);
    const deferMs = await spec.writeStatus(s);
    if (failure !== undefined) throw failure;
    const next = lowest(requeue, deferMs);
    return next === undefined ? undefined : { requeueAfterMs: next };
  };
}
