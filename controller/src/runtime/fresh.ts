/**
 * The one read-your-own-writes overlay. Under load the informer cache lags our own writes by a
 * few hundred ms; a pass that starts from the older cached copy computes writes that can only
 * fail with 409 (they carry the old resourceVersion) and are redone. So each controller notes
 * the object its write returned, and the next pass starts from that until the cache shows the
 * same version, or `maxAgeMs` passes (after which the cache is trusted again: a write by someone
 * else that we never saw must not be hidden for long).
 *
 * One instance per kind and process: the RemoteMachine controller keeps one for its objects; the
 * pool machines' one is shared by the claims (pool/claims.ts) and the pool machine controller,
 * so whichever of them wrote last, the next pass of either starts from that write.
 */
export interface Versioned {
  metadata: { resourceVersion?: string };
}

/** How many of the versions the informer delivered last are remembered per object. */
const RECENT_VERSIONS = 4;

export class FreshCache<T extends Versioned> {
  private readonly written = new Map<string, { obj: T; at: number }>();
  /** The versions the informer delivered last, per object (fed by `seen`). */
  private readonly recent = new Map<string, string[]>();

  constructor(
    private readonly maxAgeMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Our write returned `obj`: later passes start from it until the cache catches up. Not when
   * the informer already delivered that version (its watch event can overtake the write's
   * answer): the cache may have moved past it since, and the overlay would hide the newer copy.
   */
  noteWritten(key: string, obj: T): void {
    const rv = obj.metadata.resourceVersion;
    if (rv !== undefined && this.recent.get(key)?.includes(rv)) return;
    this.written.set(key, { obj, at: this.now() });
  }

  /**
   * The copy a pass starts from: ours while it is newer than `cached`, else `cached`. Undefined
   * when the object is gone from the cache (a deletion is not overlaid).
   */
  get(key: string, cached: T | undefined): T | undefined {
    const mine = this.written.get(key);
    if (
      mine &&
      (!cached ||
        mine.obj.metadata.resourceVersion === cached.metadata.resourceVersion ||
        this.now() - mine.at > this.maxAgeMs)
    )
      this.written.delete(key);
    return cached && (this.written.get(key)?.obj ?? cached);
  }

  /** The object our last write returned, if still overlaid. */
  peek(key: string): T | undefined {
    return this.written.get(key)?.obj;
  }

  /**
   * The informer delivered `obj` (an add or update event): the cache has caught up with our write
   * when it is the version we wrote. Events come in order, so this drops an overlay as soon as
   * the cache shows it, without waiting for the next pass to compare.
   */
  seen(key: string, obj: T): void {
    const rv = obj.metadata.resourceVersion;
    if (rv === undefined) return;
    if (this.written.get(key)?.obj.metadata.resourceVersion === rv) this.written.delete(key);
    const recent = this.recent.get(key) ?? [];
    recent.push(rv);
    if (recent.length > RECENT_VERSIONS) recent.shift();
    this.recent.set(key, recent);
  }

  /** The object was deleted: nothing of it is kept. */
  gone(key: string): void {
    this.written.delete(key);
    this.recent.delete(key);
  }

  /** Every overlaid object younger than `maxAgeMs` (older ones are dropped on the way). */
  *entries(): IterableIterator<[string, T]> {
    const now = this.now();
    for (const [key, { obj, at }] of this.written) {
      if (now - at > this.maxAgeMs) this.written.delete(key);
      else yield [key, obj];
    }
  }

  /** Drops the overlay (a conflict: someone else wrote, the retry starts from the cache). */
  forget(key: string): void {
    this.written.delete(key);
  }
}
