/**
 * How much the controller keeps of the redaction words of the Secrets it reads. Every word of a
 * Secret it read is kept (cloudinit/redact.ts) for as long as the Secret exists, and tenants write
 * those Secrets: one under 1 MiB whose cloud-config carries a gzip-encoded file of distinct words
 * would cost some 32 MiB of heap, and a few of them the controller's whole memory limit. So a
 * Secret whose words weigh more than any bootstrap data needs is not read at all, and the words
 * of all Secrets read are bounded, of which one namespace may hold only its share, as of the SSH
 * slots. Pure: the reader (secrets.ts) weighs, asks and records.
 */

/**
 * What a word costs in the index, in bytes: its characters plus the two hash-table entries and
 * string header that hold it (120 bytes, on the safe side: secrets.test.ts measures 31,000 words
 * of 12 characters, which this weighs at 3.9 MiB, at about 3 MiB of heap).
 */
export function wordWeight(word: string): number {
  return word.length + 120;
}

export interface WordLimits {
  /** Weight of one Secret's words (a kubeadm or k0s bootstrap's weigh some tens of KiB). */
  perSecret: number;
  /** Weight of the words of every Secret read, together. */
  total: number;
  /** Share of `total` the Secrets of one namespace may hold, 0 < share <= 1 (rounded up). */
  namespaceShare: number;
}

export const WORD_LIMITS: WordLimits = { perSecret: 16 * 2 ** 20, total: 128 * 2 ** 20, namespaceShare: 0.5 };

/** Why a Secret is not read; `transient` when it may be read once other Secrets' words go. */
export interface WordRefusal {
  why: string;
  transient: boolean;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

export class WordBudget {
  private readonly held = new Map<string, { namespace: string; weight: number }>();
  private readonly byNamespace = new Map<string, number>();
  private total = 0;

  constructor(readonly limits: WordLimits = WORD_LIMITS) {}

  /** Why `key` (of `namespace`) may not hold words of `weight` in place of what it holds now. */
  refusal(key: string, namespace: string, weight: number): WordRefusal | undefined {
    const { perSecret, total, namespaceShare } = this.limits;
    if (weight > perSecret)
      return {
        why: `its words of 12 or more characters, which capi-remote keeps to remove them from everything it writes, would take ${mib(weight)}, over the ${mib(perSecret)} it keeps of one Secret`,
        transient: false,
      };
    const prev = this.held.get(key)?.weight ?? 0;
    const share = Math.ceil(total * namespaceShare);
    const inNamespace = (this.byNamespace.get(namespace) ?? 0) - prev;
    if (inNamespace + weight > share)
      return {
        why: `the words of the Secrets of namespace ${namespace} take ${mib(inNamespace)}, and this one's ${mib(weight)} would pass the namespace's share of ${mib(share)} (--redaction-words-mib, --ssh-namespace-share); it is read when some of them are deleted`,
        transient: true,
      };
    if (this.total - prev + weight > total)
      return {
        why: `the words of the Secrets read take ${mib(this.total - prev)}, and this one's ${mib(weight)} would pass the limit of ${mib(total)} (--redaction-words-mib); it is read when some of them are deleted`,
        transient: true,
      };
    return undefined;
  }

  /** `key` now holds words of `weight`. */
  set(key: string, namespace: string, weight: number): void {
    this.delete(key);
    this.held.set(key, { namespace, weight });
    this.byNamespace.set(namespace, (this.byNamespace.get(namespace) ?? 0) + weight);
    this.total += weight;
  }

  delete(key: string): void {
    const h = this.held.get(key);
    if (!h) return;
    this.held.delete(key);
    const left = (this.byNamespace.get(h.namespace) ?? 0) - h.weight;
    if (left > 0) this.byNamespace.set(h.namespace, left);
    else this.byNamespace.delete(h.namespace);
    this.total -= h.weight;
  }

  has(key: string): boolean {
    return this.held.has(key);
  }

  /** Each key whose words are held, with its namespace. */
  *sources(): IterableIterator<[string, string]> {
    for (const [key, h] of this.held) yield [key, h.namespace];
  }

  /** Weight of every word held. */
  get weight(): number {
    return this.total;
  }
}
