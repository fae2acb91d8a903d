/**
 * The one read-your-own-writes overlay. Under load the informer cache lags our own writes by a
 * few hundred ms; a pass that starts from the older cached copy computes writes that can only
 * fail with 409 (they carry the old resourceVersion) and are redone. So each controller notes
 * the object its write returned, and the next pass starts from that until the cache shows the
 * same version, or `maxAgeMs` passes (after which the cache is trusted again: a write by someone
 * else that we never saw must not be hidden for long).
 */
export interface Versioned {
  metadata: { resourceVersion?: string };
}

export class FreshCache<T extends Versioned> {
  private readonly written = new Map<string, { obj: T; at: number }>();

  constructor(
    private readonly maxAgeMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Our write returned `obj`: later passes start from it until the cache catches up. */
  noteWritten(key: string, obj: T): void {
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

  /** Drops the overlay (a conflict: someone else wrote, the retry starts from the cache). */
  forget(key: string): void {
    this.written.delete(key);
  }
}
