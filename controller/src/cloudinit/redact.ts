/**
 * Redaction of bootstrap secrets from text shown to users (conditions, Events, logs). Join
 * tokens, keys and certificates come from the bootstrap data, so any long word that appears in
 * the data is replaced, plus a few shapes that are always secret.
 */
const WORD = /[A-Za-z0-9+/=_.:@-]{12,}/g;
const ALWAYS = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g,
  /\b[a-z0-9]{6}\.[a-z0-9]{16}\b/g, // kubeadm bootstrap token
  /\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b/g, // JWT
];
export const REDACTED = "[redacted]";

/** Builds a redactor for the given secret material (bootstrap data, decoded file contents). */
export function makeRedactor(secrets: string[]): (text: string) => string {
  const words = new Set<string>();
  for (const s of secrets) for (const w of s.match(WORD) ?? []) words.add(w);
  return (text: string) => {
    let out = text;
    for (const re of ALWAYS) out = out.replace(re, REDACTED);
    return out.replace(WORD, (w) => (words.has(w) ? REDACTED : w));
  };
}

/**
 * The secret words of many sources (one per Secret), kept up to date one source at a time: a
 * Secret that changes costs the words of that Secret, not a rebuild from every Secret (50
 * bootstrap Secrets created at once made 50 rebuilds over all of them, on the event loop that
 * starts the bootstraps).
 */
export class SecretWordIndex {
  /** Word -> how many sources hold it. */
  private readonly count = new Map<string, number>();
  private readonly bySource = new Map<string, Set<string>>();

  /** Sets the secret material of `source` (replacing what it had). */
  set(source: string, secrets: string[]): void {
    const words = new Set<string>();
    for (const s of secrets) for (const w of s.match(WORD) ?? []) words.add(w);
    this.delete(source);
    if (!words.size) return;
    this.bySource.set(source, words);
    for (const w of words) this.count.set(w, (this.count.get(w) ?? 0) + 1);
  }

  delete(source: string): void {
    const old = this.bySource.get(source);
    if (!old) return;
    this.bySource.delete(source);
    for (const w of old) {
      const n = (this.count.get(w) ?? 1) - 1;
      if (n > 0) this.count.set(w, n);
      else this.count.delete(w);
    }
  }

  redact = (text: string): string => {
    let out = text;
    for (const re of ALWAYS) out = out.replace(re, REDACTED);
    return out.replace(WORD, (w) => (this.count.has(w) ? REDACTED : w));
  };
}
