/**
 * How the controller reads Secrets. It needs only the few a machine names (SSH keys, known_hosts,
 * bootstrap data, the workload cluster's kubeconfig), but it cannot select those by label:
 * k0smotron's SSH key Secrets carry none, and a drop-in must read them as they are. So it watches
 * the Secrets of the watched namespaces as metadata only (name and resourceVersion: what wakes a
 * machine and says a Secret exists), and reads a Secret's data with a GET when a reconcile asks
 * for it, as controller-runtime's metadata-only watches and uncached reader do. The copies read
 * are kept while their resourceVersion holds and they are read now and then, within a byte
 * budget; a Secret nobody names is never read at all. The words of what was read are the
 * redaction words (cloudinit/redact.ts), learned before any caller sees the data.
 *
 * Secrets of the types below are never any of those, and their data is never kept: Helm's
 * release records, service account tokens, image pull Secrets and bootstrap tokens. A machine
 * that names one (a tenant pointing `sshKeyRef` at a service account token, say) is told which
 * type it is and that capi-remote does not read it.
 */

import { secretWords } from "../cloudinit/redact.js";
import { isNotFound } from "../kube/api.js";
import { type Secret, secretValue } from "../kube/objects.js";
import { type InformerHandlers, keyOf, slim } from "../runtime/informer.js";
import { WordBudget, type WordLimits, type WordRefusal, wordWeight } from "./wordbudget.js";

export const DATALESS_SECRET_TYPES: ReadonlySet<string> = new Set([
  "helm.sh/release.v1",
  "kubernetes.io/service-account-token",
  "kubernetes.io/dockercfg",
  "kubernetes.io/dockerconfigjson",
  "bootstrap.kubernetes.io/token",
]);

/** A Secret as read: its data dropped when its type is one the controller never reads. */
export function projectSecret(s: Secret): Secret {
  const kept = slim(s);
  if (kept.type !== undefined && DATALESS_SECRET_TYPES.has(kept.type)) {
    delete kept.data;
    delete (kept as { stringData?: unknown }).stringData;
  }
  return kept;
}

/** Secrets the reader handed out without their data because of their words (wordbudget.ts), and why. */
const refusals = new WeakMap<Secret, string>();

/**
 * For a message about a Secret with no data: why, when the controller did not read it (its type
 * is one it never reads, or its words are over a limit).
 */
export function unreadNote(s: Secret | undefined): string {
  const refused = s && refusals.get(s);
  if (refused) return ` (capi-remote did not read it: ${refused})`;
  return s?.type !== undefined && DATALESS_SECRET_TYPES.has(s.type)
    ? ` (capi-remote keeps no data of Secrets of type ${s.type}; use type Opaque)`
    : "";
}

/** What the metadata watch holds of a Secret. */
export type SecretMeta = Pick<Secret, "metadata">;

/** Of a PartialObjectMetadata, what is read: no labels, annotations or owners a tenant can grow. */
export function projectSecretMeta(o: SecretMeta): SecretMeta {
  const { name, namespace, resourceVersion, uid } = o.metadata;
  return {
    metadata: {
      name,
      ...(namespace !== undefined ? { namespace } : {}),
      ...(resourceVersion !== undefined ? { resourceVersion } : {}),
      ...(uid !== undefined ? { uid } : {}),
    },
  };
}

/** The metadata watch, as far as the reader uses it (runtime/informer.ts, or the fake API's). */
export interface SecretMetaSource {
  get(namespace: string, name: string): SecretMeta | undefined;
  on(h: InformerHandlers<SecretMeta>): unknown;
}

/** Where the words of the Secrets read go (cloudinit/redact.ts's SecretWordIndex). */
export interface SecretWords {
  learn(source: string, words: Set<string>): void;
  delete(source: string): void;
}

export interface SecretReaderOptions {
  /** A copy not read for this long is dropped; the next read GETs it again (10 minutes). */
  idleMs?: number;
  /** Bytes of data the copies may hold together; the least recently read go first (64 MiB). */
  maxBytes?: number;
  /** Told the copies held and their data bytes whenever either changes (metrics). */
  onHeld?: (copies: number, bytes: number) => void;
  /** How many words the Secrets read may hold (wordbudget.ts). */
  wordLimits?: WordLimits;
  /** Told the weight of the words learned, in all (wordbudget.ts), whenever it changes (metrics). */
  onWords?: (weight: number) => void;
  now?: () => number;
}

interface Copy {
  secret: Secret;
  /** The resourceVersion the watch showed when the GET went out (the GET may bring a newer one). */
  forVersion: string;
  bytes: number;
  readAt: number;
}

export class SecretReader {
  /** Least recently read first: a read moves its copy to the end. */
  private readonly copies = new Map<string, Copy>();
  private readonly reading = new Map<string, { version: string; read: Promise<Secret | undefined> }>();
  private readonly budget: WordBudget;
  /** Refused for want of room in the word budget: woken when words go. */
  private readonly waiting = new Map<string, { namespace: string; name: string }>();
  private readonly handlers: InformerHandlers<SecretMeta>[] = [];
  private bytes = 0;
  private readonly sweeper: NodeJS.Timeout;
  private readonly idleMs: number;
  private readonly maxBytes: number;
  private readonly now: () => number;

  constructor(
    private readonly meta: SecretMetaSource,
    /** A GET of the Secret (a 404 is read as "not there"). */
    private readonly fetch: (namespace: string, name: string) => Promise<Secret | undefined>,
    private readonly words: SecretWords,
    private readonly opts: SecretReaderOptions = {},
  ) {
    this.idleMs = opts.idleMs ?? 10 * 60_000;
    this.maxBytes = opts.maxBytes ?? 64 * 2 ** 20;
    this.now = opts.now ?? Date.now;
    this.budget = new WordBudget(opts.wordLimits);
    // Registered first, so that a copy is dropped before any controller hears of the change.
    meta.on({
      onUpdate: (s, old) => {
        if (s.metadata.resourceVersion !== old.metadata.resourceVersion) this.drop(keyOf(s));
      },
      onDelete: (s) => {
        this.drop(keyOf(s));
        this.waiting.delete(keyOf(s));
        this.forgetWords(keyOf(s));
      },
    });
    this.sweeper = setInterval(() => this.sweep(), Math.min(this.idleMs, 60_000));
    this.sweeper.unref();
  }

  /** The Secret's resourceVersion as the watch last showed it; undefined when it does not exist. */
  version(namespace: string, name: string): string | undefined {
    return this.meta.get(namespace, name)?.metadata.resourceVersion;
  }

  /** Wake-ups: the watch's events (metadata only). */
  on(h: InformerHandlers<SecretMeta>): void {
    this.handlers.push(h);
    this.meta.on(h);
  }

  /**
   * The Secret with its data, or undefined when the watch does not show it (a Secret created a
   * moment ago is found on the pass its watch event brings). Rejects when the GET fails.
   */
  async get(namespace: string, name: string): Promise<Secret | undefined> {
    const m = this.meta.get(namespace, name);
    if (!m) return undefined;
    const key = `${namespace}/${name}`;
    const version = m.metadata.resourceVersion ?? "";
    const c = this.copies.get(key);
    if (c && (c.forVersion === version || c.secret.metadata.resourceVersion === version)) {
      c.readAt = this.now();
      this.copies.delete(key);
      this.copies.set(key, c);
      return c.secret;
    }
    const running = this.reading.get(key);
    if (running?.version === version) return running.read;
    // A read of an older version still out finishes first, so that the last words learned and
    // the copy kept are the newest.
    const after = running ? running.read.then(noop, noop) : Promise.resolve();
    const read = after
      .then(() => this.read(namespace, name, version))
      .finally(() => {
        if (this.reading.get(key)?.read === read) this.reading.delete(key);
      });
    this.reading.set(key, { version, read });
    return read;
  }

  /** The named Secrets of one namespace that exist, by name (read side by side). */
  async getAll(namespace: string, names: readonly (string | undefined)[]): Promise<Map<string, Secret>> {
    const wanted = [...new Set(names.filter((n): n is string => !!n))];
    const got = await Promise.all(wanted.map((n) => this.get(namespace, n)));
    const out = new Map<string, Secret>();
    wanted.forEach((n, i) => {
      const s = got[i];
      if (s) out.set(n, s);
    });
    return out;
  }

  /** Copies held and their data bytes. */
  held(): { copies: number; bytes: number } {
    return { copies: this.copies.size, bytes: this.bytes };
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  private async read(namespace: string, name: string, version: string): Promise<Secret | undefined> {
    const got = await this.fetch(namespace, name).catch((e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    });
    const key = `${namespace}/${name}`;
    if (!got) return undefined;
    const s = projectSecret(got);
    const learned = secretWords(Object.keys(s.data ?? {}).map((k) => secretValue(s, k) ?? ""));
    let weight = 0;
    for (const w of learned) weight += wordWeight(w);
    const refused = this.budget.refusal(key, namespace, weight);
    if (refused) return this.refuse(s, version, refused);
    // Before anyone sees the data: from here on its words are removed from every text we write.
    const before = this.budget.weight;
    this.words.learn(key, learned);
    this.budget.set(key, namespace, weight);
    this.wordsChanged(before);
    // Deleted while the GET was out: the caller gets what it asked for, nothing is kept. Its words
    // stay until the sweep sees the Secret gone (the caller may still write about it).
    if (!this.meta.get(namespace, name)) return s;
    this.drop(key);
    const bytes = Object.values(s.data ?? {}).reduce((n, v) => n + v.length, 0);
    this.copies.set(key, { secret: s, forVersion: version, bytes, readAt: this.now() });
    this.bytes += bytes;
    this.trim();
    this.opts.onHeld?.(this.copies.size, this.bytes);
    return s;
  }

  /**
   * Handed out without its data, so nothing of it is used unlearned. Kept as such while its
   * version holds when it is over the per-Secret limit (an edit of the Secret wakes its machines);
   * read again when other Secrets' words go when there was no room for it.
   */
  private refuse(s: Secret, version: string, r: WordRefusal): Secret {
    delete s.data;
    refusals.set(s, r.why);
    const namespace = s.metadata.namespace ?? "";
    const key = `${namespace}/${s.metadata.name}`;
    if (r.transient) this.waiting.set(key, { namespace, name: s.metadata.name });
    else if (this.meta.get(namespace, s.metadata.name)) {
      this.drop(key);
      this.copies.set(key, { secret: s, forVersion: version, bytes: 0, readAt: this.now() });
      this.opts.onHeld?.(this.copies.size, this.bytes);
    }
    return s;
  }

  /** After the words learned changed: fewer, and the Secrets refused for want of room are tried again. */
  private wordsChanged(before: number): void {
    this.opts.onWords?.(this.budget.weight);
    if (this.budget.weight >= before || !this.waiting.size) return;
    const woken = [...this.waiting.values()];
    this.waiting.clear();
    for (const { namespace, name } of woken) {
      const m = this.meta.get(namespace, name);
      if (m) for (const h of this.handlers) h.onUpdate?.(m, m);
    }
  }

  private drop(key: string): void {
    const c = this.copies.get(key);
    if (!c) return;
    this.copies.delete(key);
    this.bytes -= c.bytes;
    this.opts.onHeld?.(this.copies.size, this.bytes);
  }

  /** Over the byte budget: the least recently read copies go (the newest is kept, whatever its size). */
  private trim(): void {
    for (const key of this.copies.keys()) {
      if (this.bytes <= this.maxBytes || this.copies.size <= 1) return;
      this.drop(key);
    }
  }

  /**
   * Drops copies not read for `idleMs`, and the words of Secrets the watch no longer shows (a
   * deletion that raced a GET). Words of an idle copy stay while the Secret exists: a bootstrap
   * started from it may still be writing.
   */
  sweep(): void {
    const cutoff = this.now() - this.idleMs;
    for (const [key, c] of this.copies) if (c.readAt < cutoff) this.drop(key);
    for (const [key, namespace] of this.budget.sources())
      if (!this.meta.get(namespace, key.slice(namespace.length + 1))) this.forgetWords(key);
  }

  private forgetWords(key: string): void {
    if (!this.budget.has(key)) return;
    const before = this.budget.weight;
    this.words.delete(key);
    this.budget.delete(key);
    this.wordsChanged(before);
  }
}

const noop = () => {};
