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
