/**
 * Redaction of bootstrap secrets from text shown to users (conditions, Events, logs). Join
 * tokens, keys and certificates come from the bootstrap data, so any long word that appears in
 * the data is replaced, plus a few shapes that are always secret.
 *
 * Words are compared in pieces as well as whole: `K0S_TOKEN=<t>` in the data makes `<t>` secret
 * wherever it is printed, and `TOKEN=<t>` printed is caught when the data holds `<t>` alone.
 * Files the data carries encoded (base64, gzip) are decoded, within the planner's bounds, and
 * their words learned too: the host prints them decoded.
 */
import { parse as parseYaml } from "yaml";
import { DecodeBudget } from "./limits.js";

const WORD = /[A-Za-z0-9+/=_.:@-]{12,}/g;
/** Where a word is cut into pieces: assignments, key: value, user@host. */
const PIECE_SEP = /[=:@]/;
const MIN = 12;
const ALWAYS = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g,
  /\b[a-z0-9]{6}\.[a-z0-9]{16}\b/g, // kubeadm bootstrap token
  /\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b/g, // JWT
];
export const REDACTED = "[redacted]";

/** The secret words of a text: each long word, and each long piece of it. */
function wordsOf(text: string, into: Set<string>): void {
  for (const w of text.match(WORD) ?? []) {
    into.add(w);
    if (PIECE_SEP.test(w)) for (const p of w.split(PIECE_SEP)) if (p.length >= MIN) into.add(p);
  }
}

/**
 * The texts whose words are secret in one Secret value: the value, and the decoded content of
 * each encoded write_files entry when it is cloud-config (bounded like the planner's decoding;
 * what cannot be read is skipped: the planner refuses it anyway).
 */
export function secretTexts(value: string): string[] {
  const out = [value];
  if (!/^(\uFEFF)?(#cloud-config|## template: *jinja)/.test(value) || !/encoding/.test(value)) return out;
  try {
    const doc = parseYaml(value.replace(/^\uFEFF?## template:[^\n]*\n/, ""), {
      schema: "yaml-1.1",
      strict: false,
      uniqueKeys: false,
      maxAliasCount: 100,
    }) as { write_files?: unknown } | null;
    const files = Array.isArray(doc?.write_files) ? (doc.write_files as unknown[]) : [];
    const budget = new DecodeBudget();
    files.slice(0, 1024).forEach((f, i) => {
      const e = (f ?? {}) as { content?: unknown; encoding?: unknown };
      if (typeof e.content !== "string" || typeof e.encoding !== "string") return;
      const enc = e.encoding.toLowerCase();
      let b: Buffer | undefined =
        enc.includes("b64") || enc.includes("base64") ? Buffer.from(e.content, "base64") : undefined;
      if (enc.startsWith("gz")) b = budget.gunzip(b ?? Buffer.from(e.content, "latin1"), `write_files[${i}]`);
      if (b) out.push(b.toString("utf8"));
    });
  } catch {
    // Not readable cloud-config, or over a bound: the value's own words are still learned.
  }
  return out;
}

function redactWith(text: string, has: (w: string) => boolean): string {
  let out = text;
  for (const re of ALWAYS) out = out.replace(re, REDACTED);
  return out.replace(WORD, (w) => {
    if (has(w)) return REDACTED;
    if (!PIECE_SEP.test(w)) return w;
    // Pieces: `TOKEN=<secret>` printed where the data held `<secret>`.
    return w
      .split(/([=:@])/)
      .map((p) => (p.length >= MIN && has(p) ? REDACTED : p))
      .join("");
  });
}

/** Builds a redactor for the given secret material (bootstrap data, decoded file contents). */
export function makeRedactor(secrets: string[]): (text: string) => string {
  const words = new Set<string>();
  for (const s of secrets) for (const t of secretTexts(s)) wordsOf(t, words);
  return (text: string) => redactWith(text, (w) => words.has(w));
}

/** The secret words of one source's values: their long words, and those of the files they carry encoded. */
export function secretWords(values: string[]): Set<string> {
  const words = new Set<string>();
  for (const v of values) for (const t of secretTexts(v)) wordsOf(t, words);
  return words;
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
    this.learn(source, secretWords(secrets));
  }

  /**
   * Sets the words of `source` (replacing what it had): `secretWords` of its material. The index
   * keeps `words` itself (up to a hundred thousand entries: not copied); the caller lets it go.
   */
  learn(source: string, words: Set<string>): void {
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

  redact = (text: string): string => redactWith(text, (w) => this.count.has(w));
}
