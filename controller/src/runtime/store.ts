/**
 * An informer's object store with indexes. An index names the values an object is found under
 * (the Secrets a RemoteMachine uses, the pool a pool machine belongs to); watch mappers ask
 * `byIndex` "which objects use Secret x" instead of scanning every object per event, as
 * controller-runtime's field indexes do. Indexes are kept on every set and delete.
 */
interface Index<T> {
  fn: (obj: T) => readonly string[];
  /** value -> keys of the objects under it */
  byValue: Map<string, Set<string>>;
  /** key -> the values it was put under (to unindex on update or delete) */
  valuesOf: Map<string, readonly string[]>;
}

/** What watch mappers need of a cache: indexes and lookups (an Informer, or a store in tests). */
export interface Indexed<T> {
  addIndex(name: string, fn: (obj: T) => readonly string[]): Indexed<T>;
  byIndex(name: string, value: string): T[];
  get(namespace: string | undefined, name: string): T | undefined;
}

export class IndexedStore<T> {
  private readonly objects = new Map<string, T>();
  private readonly indexes = new Map<string, Index<T>>();

  /** Adds an index (objects already stored are indexed at once). */
  addIndex(name: string, fn: (obj: T) => readonly string[]): void {
    if (this.indexes.has(name)) throw new Error(`index ${name} exists`);
    const idx: Index<T> = { fn, byValue: new Map(), valuesOf: new Map() };
    this.indexes.set(name, idx);
    for (const [k, o] of this.objects) this.indexPut(idx, k, o);
  }

  hasIndex(name: string): boolean {
    return this.indexes.has(name);
  }

  /** The objects index `name` puts under `value`. */
  byIndex(name: string, value: string): T[] {
    const idx = this.indexes.get(name);
    if (!idx) throw new Error(`no index ${name}`);
    const out: T[] = [];
    for (const k of idx.byValue.get(value) ?? []) {
      const o = this.objects.get(k);
      if (o !== undefined) out.push(o);
    }
    return out;
  }

  get(key: string): T | undefined {
    return this.objects.get(key);
  }

  has(key: string): boolean {
    return this.objects.has(key);
  }

  set(key: string, obj: T): void {
    if (this.objects.has(key)) this.unindex(key);
    this.objects.set(key, obj);
    for (const idx of this.indexes.values()) this.indexPut(idx, key, obj);
  }

  delete(key: string): void {
    if (!this.objects.has(key)) return;
    this.unindex(key);
    this.objects.delete(key);
  }

  clear(): void {
    this.objects.clear();
    for (const idx of this.indexes.values()) {
      idx.byValue.clear();
      idx.valuesOf.clear();
    }
  }

  values(): IterableIterator<T> {
    return this.objects.values();
  }

  entries(): IterableIterator<[string, T]> {
    return this.objects.entries();
  }

  get size(): number {
    return this.objects.size;
  }

  private indexPut(idx: Index<T>, key: string, obj: T): void {
    const values = [...new Set(idx.fn(obj))];
    idx.valuesOf.set(key, values);
    for (const v of values) {
      const keys = idx.byValue.get(v) ?? new Set<string>();
      keys.add(key);
      idx.byValue.set(v, keys);
    }
  }

  private unindex(key: string): void {
    for (const idx of this.indexes.values()) {
      for (const v of idx.valuesOf.get(key) ?? []) {
        const keys = idx.byValue.get(v);
        keys?.delete(key);
        if (keys?.size === 0) idx.byValue.delete(v);
      }
      idx.valuesOf.delete(key);
    }
  }
}
