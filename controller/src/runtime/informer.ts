/**
 * A list-watch cache of one resource. Written here (not client-node's makeInformer) because that
 * informer stops for good on any error but 410, asks for no bookmarks and has no guard against a
 * watch that silently hangs; this one:
 * - relists and rewatches after any error, with exponential backoff (1 s .. 10 s, so that after
 *   an API server outage it is back within seconds; a watch that lived 10 s resets it), and says
 *   when it is back (`onRecovered`: the controller then retries at once what failed meanwhile);
 * - asks the server to end each watch after a random 5-10 minutes (timeoutSeconds), resuming from
 *   the last resourceVersion seen, and aborts a watch that outlives that by a minute (dead link);
 * - requests bookmarks so resuming rarely needs a relist;
 * - reports add/update/delete, plus a synthetic update of every object after each relist;
 * - bounds what it holds when the server is not trusted (a workload cluster's): `maxItems`
 *   objects, each cut down by `project` to what is read, and the API client's response limits.
 */
import { type KubeApi, METADATA_ONLY, type Resource, resourcePath } from "../kube/api.js";
import type { Logger } from "./log.js";
import { IndexedStore } from "./store.js";

export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string };
}

export interface InformerHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(obj: T, old: T): void;
  onDelete?(obj: T): void;
}

export const keyOf = (o: { metadata: { namespace?: string; name: string } }) =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;

/**
 * Drops what the cache never reads and costs memory: server-side-apply bookkeeping
 * (`metadata.managedFields`, often larger than the object) and kubectl's last-applied copy.
 * Like controller-runtime's TransformStripManagedFields.
 */
export function slim<T extends object>(o: T): T {
  const meta = (o as { metadata?: { managedFields?: unknown; annotations?: Record<string, string> } }).metadata;
  if (meta) {
    delete meta.managedFields;
    if (meta.annotations?.["kubectl.kubernetes.io/last-applied-configuration"] !== undefined)
      delete meta.annotations["kubectl.kubernetes.io/last-applied-configuration"];
  }
  return o;
}

/** A watch that ends sooner than this after it began ended "at once" (see loop). */
const WATCH_AT_ONCE_MS = 1000;

export class Informer<T extends KObject> {
  private readonly store = new IndexedStore<T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private abort?: AbortController;
  private stopped = false;
  private resourceVersion = "";
  private failures = 0;
  private syncedResolve!: () => void;
  private guard?: NodeJS.Timeout;
  /** Resolves after the first complete list. */
  readonly synced: Promise<void> = new Promise((r) => {
    this.syncedResolve = r;
  });
  /** Restarts after errors, for metrics and tests. */
  restarts = 0;

  constructor(
    private readonly api: KubeApi,
    readonly resource: Resource,
    private readonly log: Logger,
    private readonly opts: {
      namespace?: string;
      labelSelector?: string;
      watchTimeoutSeconds?: [number, number];
      /** Called when a relist succeeds after a failure (the API server is back). */
      onRecovered?: () => void;
      /** Objects per list page (500). */
      pageSize?: number;
      /** At most this many objects are held; a list or watch that brings more fails (and retries). */
      maxItems?: number;
      /** Keeps of each object only what is read (instead of `slim`). */
      project?: (obj: T) => T;
      /** Lists and watches metadata only (PartialObjectMetadata): no spec, status or data. */
      metadataOnly?: boolean;
    } = {},
  ) {}

  on(h: InformerHandlers<T>): this {
    this.handlers.push(h);
    return this;
  }

  /**
   * Adds an index (runtime/store.ts): `fn` names the values an object is found under; watch
   * mappers answer from `byIndex` instead of scanning every object per event.
   */
  addIndex(name: string, fn: (obj: T) => readonly string[]): this {
    this.store.addIndex(name, fn);
    return this;
  }

  /** The cached objects index `name` puts under `value`. */
  byIndex(name: string, value: string): T[] {
    return this.store.byIndex(name, value);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.store.get(namespace ? `${namespace}/${name}` : name);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  get size(): number {
    return this.store.size;
  }

  start(): this {
    void this.loop();
    return this;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.guard);
    this.abort?.abort();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let watchStarted = 0;
      try {
        if (!this.resourceVersion) await this.relist();
        watchStarted = Date.now();
        await this.watchOnce();
        // A server ends a watch at its timeoutSeconds (minutes); one ended within a second (a
        // server that answers and hangs up, on purpose or not) waits like a failure, so that it
        // gets no tight reconnect loop.
        if (!this.stopped && Date.now() - watchStarted < WATCH_AT_ONCE_MS) throw new Error("the watch ended at once");
        this.failures = 0;
      } catch (e) {
        if (this.stopped) return;
        const gone = (e as { code?: number }).code === 410 || (e as { status?: number }).status === 410;
        // An expired resourceVersion relists at once, unless the watch said so at once.
        if (gone && Date.now() - watchStarted >= WATCH_AT_ONCE_MS) {
          this.resourceVersion = "";
          continue;
        }
        // A watch that was up for a while failing is news, not a streak of failures.
        if (watchStarted && Date.now() - watchStarted > 10_000) this.failures = 0;
        this.restarts++;
        // Jittered, so that the informers of many controllers do not come back in step.
        const delay = Math.min(1000 * 2 ** this.failures++, 10_000) * (0.8 + Math.random() * 0.4);
        this.log.warn("watch failed; relisting after backoff", {
          resource: this.resource.plural,
          delayMs: Math.round(delay),
          err: e,
        });
        this.resourceVersion = "";
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  }

  private keep(o: T): T {
    return this.opts.project ? this.opts.project(o) : slim(o);
  }

  /** The error when holding `n` objects would be more than `maxItems`. */
  private tooMany(n: number): Error | undefined {
    const max = this.opts.maxItems ?? Number.POSITIVE_INFINITY;
    return n > max
      ? new Error(`more than ${max} ${this.resource.plural}; the informer holds at most ${max}`)
      : undefined;
  }

  private query(extra: Record<string, string>): string {
    const q = new URLSearchParams(extra);
    if (this.opts.labelSelector) q.set("labelSelector", this.opts.labelSelector);
    return q.toString();
  }

  private async relist(): Promise<void> {
    const items: T[] = [];
    let cont = "";
    let rv = "";
    do {
      const page = await this.api.list<T>(
        this.resource,
        this.opts.namespace,
        this.query({ limit: String(this.opts.pageSize ?? 500), ...(cont ? { continue: cont } : {}) }),
        this.opts.metadataOnly ? METADATA_ONLY.list : undefined,
      );
      // A metadata-only list of nothing comes as `items: null` (Go's nil slice).
      const got = page.items === null ? [] : page.items;
      if (!Array.isArray(got)) throw new Error(`list of ${this.resource.plural}: no items`);
      for (const it of got) items.push(this.keep(it));
      const over = this.tooMany(items.length);
      if (over) throw over;
      cont = page.metadata.continue ?? "";
      rv = page.metadata.resourceVersion ?? "";
    } while (cont);
    if (this.failures > 0) this.opts.onRecovered?.();
    const fresh = new Map(items.map((o) => [keyOf(o), o]));
    const old = new Map(this.store.entries());
    this.store.clear();
    for (const [k, o] of fresh) this.store.set(k, o);
    for (const [k, o] of old) if (!fresh.has(k)) this.emit("delete", o);
    for (const [k, o] of fresh) {
      const prev = old.get(k);
      if (prev) this.emit("update", o, prev);
      else this.emit("add", o);
    }
    this.resourceVersion = rv;
    this.syncedResolve();
  }

  private watchOnce(): Promise<void> {
    const [lo, hi] = this.opts.watchTimeoutSeconds ?? [300, 600];
    const timeoutSeconds = Math.floor(lo + Math.random() * (hi - lo));
    const path = resourcePath(this.resource, this.opts.namespace);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(this.guard);
        if (err) reject(err);
        else resolve();
      };
      // A watch the server should have ended by now is dead (a silently dropped connection).
      this.guard = setTimeout(
        () => {
          this.abort?.abort();
          finish(new Error(`watch of ${this.resource.plural} outlived its timeout; assuming a dead connection`));
        },
        (timeoutSeconds + 60) * 1000,
      );
      this.guard.unref();
      const abort = new AbortController();
      this.abort = abort;
      if (this.stopped) abort.abort();
      const query = new URLSearchParams({
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: "true",
        timeoutSeconds: String(timeoutSeconds),
        ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
      });
      const onEvent = (phase: string, raw: unknown) => {
        if (settled) return;
        const obj = raw as T & { code?: number };
        if (phase === "ERROR") {
          abort.abort();
          finish(Object.assign(new Error(`watch error ${obj?.code ?? ""}`), { code: obj?.code }));
          return;
        }
        // A bookmark carries only a resourceVersion (no name): where to resume from.
        const rv = obj?.metadata?.resourceVersion;
        if (phase === "BOOKMARK") {
          if (typeof rv === "string" && rv) this.resourceVersion = rv;
          return;
        }
        if (!obj?.metadata?.name) {
          abort.abort();
          finish(new Error(`watch of ${this.resource.plural}: an event without an object`));
          return;
        }
        if (rv) this.resourceVersion = rv;
        const kept = this.keep(obj);
        const k = keyOf(kept);
        const prev = this.store.get(k);
        if (phase === "DELETED") {
          this.store.delete(k);
          this.emit("delete", kept);
          return;
        }
        const over = prev ? undefined : this.tooMany(this.store.size + 1);
        if (over) {
          abort.abort();
          finish(over);
          return;
        }
        this.store.set(k, kept);
        if (prev) this.emit("update", kept, prev);
        else this.emit("add", kept);
      };
      this.api.watch(path, query, onEvent, abort.signal, this.opts.metadataOnly ? METADATA_ONLY.watch : undefined).then(
        () => finish(),
        (e: unknown) => finish(e),
      );
    });
  }

  private emit(kind: "add" | "update" | "delete", obj: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        if (kind === "add") h.onAdd?.(obj);
        else if (kind === "update") h.onUpdate?.(obj, old as T);
        else h.onDelete?.(obj);
      } catch (e) {
        this.log.error("informer handler threw", { resource: this.resource.plural, err: e });
      }
    }
  }
}
