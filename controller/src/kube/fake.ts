/**
 * An in-memory API server for unit tests of the reconcilers: merge and JSON patches (RFC 7386,
 * 6902), resourceVersions, 409 on a stale merge patch and 422 on a failed JSON-patch `test` as the
 * API server answers them, deletion with finalizers, and the caches over it (each write shows at
 * once and reaches the informer's handlers, as a watch event would). Not a test file itself: the
 * controllers' tests share it, as they share the scripted host (ssh/scripted.ts).
 */
import type { InformerHandlers } from "../runtime/informer.js";
import { ApiError, type Resource } from "./api.js";

export type Obj = {
  apiVersion?: string;
  kind?: string;
  metadata: Record<string, unknown> & { name: string; namespace?: string; resourceVersion?: string };
  [k: string]: unknown;
};

/** RFC 7386 merge patch. */
function merge(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === "object" && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = merge(out[k], v);
  }
  return out;
}

/** RFC 6902 add / remove / replace / test on objects and arrays. */
function jsonPatch(doc: Obj, ops: { op: string; path: string; value?: unknown }[]): Obj {
  const root = structuredClone(doc) as unknown;
  for (const o of ops) {
    const parts = o.path
      .split("/")
      .slice(1)
      .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = parts.pop() as string;
    let parent = root;
    for (const p of parts) parent = (parent as Record<string, unknown>)[p];
    if (Array.isArray(parent)) {
      const i = last === "-" ? parent.length : Number(last);
      if (o.op === "test") {
        if (JSON.stringify(parent[i]) !== JSON.stringify(o.value)) throw new ApiError(422, `test failed at ${o.path}`);
      } else if (o.op === "remove") {
        if (i >= parent.length) throw new ApiError(422, `nothing at ${o.path}`);
        parent.splice(i, 1);
      } else parent.splice(i, o.op === "replace" ? 1 : 0, o.value);
      continue;
    }
    const obj = parent as Record<string, unknown>;
    if (o.op === "test") {
      if (JSON.stringify(obj[last]) !== JSON.stringify(o.value)) throw new ApiError(422, `test failed at ${o.path}`);
    } else if (o.op === "remove") {
      if (!(last in obj)) throw new ApiError(422, `nothing at ${o.path}`);
      delete obj[last];
    } else obj[last] = o.value;
  }
  return root as Obj;
}

/**
 * An in-memory API server and the caches over it. The cache shows each write at once, unless
 * `lag()` was called: then it (and the informer's handlers) stay where they were until
 * `catchUp()`, as an informer behind a busy API server does.
 */
export class FakeApi {
  readonly stores = new Map<Resource, Map<string, Obj>>();
  readonly writes: string[] = [];
  /** Merge patches refused with 409 (the resourceVersion they carried was stale). */
  conflicts = 0;
  private rv = 100;
  private readonly handlers = new Map<Resource, InformerHandlers<Obj>[]>();
  private lagging?: { cache: Map<Resource, Map<string, Obj>>; events: (() => void)[] };

  /** From now on the caches lag: they keep what they show now until `catchUp()`. */
  lag(): void {
    this.lagging = { cache: new Map([...this.stores].map(([r, m]) => [r, new Map(m)])), events: [] };
  }

  /** The caches catch up: the held events reach the handlers, in order. */
  catchUp(): void {
    const held = this.lagging?.events ?? [];
    this.lagging = undefined;
    for (const e of held) e();
  }

  private cacheOf(r: Resource): Map<string, Obj> {
    return this.lagging ? (this.lagging.cache.get(r) ?? new Map<string, Obj>()) : this.store(r);
  }

  private emit(e: () => void): void {
    if (this.lagging) this.lagging.events.push(e);
    else e();
  }

  store(r: Resource): Map<string, Obj> {
    const s = this.stores.get(r) ?? new Map<string, Obj>();
    this.stores.set(r, s);
    return s;
  }

  /** Stores `o` as the next version and tells the informer's handlers, as a watch event would. */
  put(r: Resource, o: Obj): Obj {
    const next = { ...o, metadata: { ...o.metadata, resourceVersion: String(++this.rv) } };
    const key = `${next.metadata.namespace ?? ""}/${next.metadata.name}`;
    const old = this.store(r).get(key);
    this.store(r).set(key, next);
    this.emit(() => {
      for (const h of this.handlers.get(r) ?? []) old ? h.onUpdate?.(next, old) : h.onAdd?.(next);
    });
    return next;
  }

  /** Removes the object (an API deletion that has no finalizer left), telling the handlers. */
  remove(r: Resource, ns: string | undefined, name: string): void {
    const old = this.store(r).get(`${ns ?? ""}/${name}`);
    if (!old) return;
    this.store(r).delete(`${ns ?? ""}/${name}`);
    this.emit(() => {
      for (const h of this.handlers.get(r) ?? []) h.onDelete?.(old);
    });
  }

  /** A deletion as the API server makes it: marked while finalizers remain, else removed. */
  async delete(r: Resource, ns: string | undefined, name: string): Promise<unknown> {
    const cur = await this.get<Obj>(r, ns, name);
    this.writes.push(`delete ${r.plural}`);
    if ((cur.metadata.finalizers as string[] | undefined)?.length) {
      if (!cur.metadata.deletionTimestamp)
        this.put(r, { ...cur, metadata: { ...cur.metadata, deletionTimestamp: new Date().toISOString() } });
    } else this.remove(r, ns, name);
    return {};
  }

  async get<T>(r: Resource, ns: string | undefined, name: string): Promise<T> {
    const o = this.store(r).get(`${ns ?? ""}/${name}`);
    if (!o) throw new ApiError(404, `${name} not found`);
    return structuredClone(o) as T;
  }

  async getMetadata<M>(r: Resource, ns: string | undefined, name: string): Promise<{ metadata: M }> {
    const o = await this.get<Obj>(r, ns, name);
    return { metadata: o.metadata as unknown as M };
  }

  async create<T>(r: Resource, ns: string | undefined, o: Obj): Promise<T> {
    if (this.store(r).has(`${ns ?? ""}/${o.metadata.name}`)) throw new ApiError(409, "exists");
    this.writes.push(`create ${r.plural}`);
    return this.put(r, o) as T;
  }

  async patch<T>(
    r: Resource,
    ns: string | undefined,
    name: string,
    body: unknown,
    type: "merge" | "json" = "merge",
    sub?: string,
  ): Promise<T> {
    const cur = await this.get<Obj>(r, ns, name);
    let next: Obj;
    if (type === "json") next = jsonPatch(cur, body as { op: string; path: string; value?: unknown }[]);
    else {
      const want = (body as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
      if (want && want !== cur.metadata.resourceVersion) {
        this.conflicts++;
        throw new ApiError(409, "the object has been modified");
      }
      const { metadata, ...rest } = body as { metadata?: Record<string, unknown> };
      const { resourceVersion: _rv, ...meta } = metadata ?? {};
      next = merge(
        cur,
        sub === "status" ? { status: (rest as { status?: unknown }).status } : { ...rest, metadata: meta },
      ) as Obj;
    }
    this.writes.push(`${type} ${r.plural}${sub ? `/${sub}` : ""}`);
    // An object whose last finalizer went stays readable (tests look at it); remove() ends it.
    return this.put(r, next) as T;
  }

  /** What an Informer offers the reconciler, read from the store. */
  informer(r: Resource) {
    const indexes = new Map<string, (o: Obj) => readonly string[]>();
    const inf = {
      get: (ns: string | undefined, name: string) => this.cacheOf(r).get(`${ns ?? ""}/${name}`),
      list: () => [...this.cacheOf(r).values()],
      addIndex(name: string, fn: (o: Obj) => readonly string[]) {
        indexes.set(name, fn);
        return inf;
      },
      byIndex: (name: string, value: string) =>
        [...this.cacheOf(r).values()].filter((o) => indexes.get(name)?.(o).includes(value)),
      on: (h: InformerHandlers<Obj>) => {
        this.handlers.set(r, [...(this.handlers.get(r) ?? []), h]);
        return inf;
      },
    };
    return inf;
  }
}
