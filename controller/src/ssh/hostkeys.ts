/**
 * Host-key policy: pinned keys (known_hosts lines or bare "type base64" entries), a key recorded
 * on first use, or no checking at all (k0smotron's behaviour, only on explicit request).
 * Pure functions; known_hosts parsing here because no maintained npm package parses OpenSSH's
 * known_hosts with hashed entries, patterns and markers.
 *
 * Host patterns are tenant input (spec.hostKeys, a known_hosts Secret): they are matched by a
 * hand-written glob matcher whose cost is bounded by the host name's length squared, never by the
 * pattern (a regex built from `*a*a*a…b` backtracks exponentially). npm's glob libraries
 * (picomatch, minimatch) compile to regexes for path globs; none offers OpenSSH's `*`/`?`
 * host-pattern semantics with a linear guarantee, so the matcher is written here.
 */
import { createHash, createHmac } from "node:crypto";

export type HostKeyPolicy =
  | { mode: "pinned"; keys: string[]; revoked?: string[] }
  | { mode: "tofu"; recorded?: string; revoked?: string[] }
  | { mode: "insecure" };

/** Bounds on known_hosts text (spec.hostKeys entries, a known_hosts Secret), checked before any matching. */
export const KNOWN_HOSTS_LIMITS = {
  /** Characters in one line (an OpenSSH key line is < 1 KiB; a host list of a few hundred names fits). */
  lineChars: 16_384,
  /** Lines considered in one text (a known_hosts Secret of a whole fleet). */
  lines: 20_000,
  /** Comma-separated host patterns in one line. */
  patternsPerLine: 1_024,
  /** Host patterns in one text, summed over its lines: bounds the total matching work. */
  patterns: 65_536,
} as const;

/** known_hosts text that breaks a limit or cannot be used; `message` names the field and the limit. */
export class KnownHostsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KnownHostsError";
  }
}

/** "type base64" of a raw SSH public key blob. */
export function formatHostKey(blob: Buffer): string {
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  const type = blob.subarray(4, 4 + len).toString("latin1");
  return `${type} ${blob.toString("base64")}`;
}

/** SHA256 fingerprint as ssh-keygen -l prints it. */
export function fingerprint(key: string): string {
  const b64 = key.trim().split(/\s+/)[1] ?? "";
  return `SHA256:${createHash("sha256").update(Buffer.from(b64, "base64")).digest("base64").replace(/=+$/, "")}`;
}

/** Whether p[from, to) (literal characters and `?`) matches `s` at `at`. */
function segmentAt(p: string, from: number, to: number, s: string, at: number): boolean {
  for (let i = from; i < to; i++) {
    const c = p.charCodeAt(i);
    if (c !== 63 /* ? */ && c !== s.charCodeAt(at + i - from)) return false;
  }
  return true;
}

/**
 * OpenSSH host-pattern glob (`*` any run, `?` one character), case-insensitive. The pattern is
 * taken in segments between its stars; the first must match at the start, the last at the end,
 * and each one between at its leftmost place after the previous (leftmost is always best: it
 * leaves the most text for what follows). A pattern with more non-star characters than the name
 * cannot match and is refused before any search, so the work is at most |name|² whatever the
 * pattern, and nothing is allocated per pattern.
 */
export function globMatch(pattern: string, name: string): boolean {
  return globMatchLower(pattern.toLowerCase(), name.toLowerCase());
}

function globMatchLower(p: string, s: string): boolean {
  let literal = 0;
  for (let i = 0; i < p.length; i++) if (p.charCodeAt(i) !== 42 /* * */) literal++;
  if (literal > s.length) return false;
  const firstStar = p.indexOf("*");
  if (firstStar < 0) return p.length === s.length && segmentAt(p, 0, p.length, s, 0);
  const lastStar = p.lastIndexOf("*");
  const end = s.length - (p.length - lastStar - 1);
  if (end < firstStar) return false;
  if (!segmentAt(p, 0, firstStar, s, 0) || !segmentAt(p, lastStar + 1, p.length, s, end)) return false;
  let pos = firstStar;
  let i = firstStar + 1;
  while (i < lastStar) {
    const j = p.indexOf("*", i);
    const len = j - i;
    if (len > 0) {
      let found = -1;
      for (let at = pos; at + len <= end; at++) {
        if (segmentAt(p, i, j, s, at)) {
          found = at;
          break;
        }
      }
      if (found < 0) return false;
      pos = found + len;
    }
    i = j + 1;
  }
  return pos <= end;
}

function hostMatches(field: string, host: string, port: number): boolean {
  const names = (port === 22 ? [host, `[${host}]:22`] : [`[${host}]:${port}`]).map((n) => n.toLowerCase());
  let matched = false;
  for (const raw of field.split(",")) {
    const negated = raw.startsWith("!");
    const pat = negated ? raw.slice(1) : raw;
    let hit: boolean;
    if (pat.startsWith("|1|")) {
      const [, , salt, hash] = pat.split("|");
      hit = names.some(
        (n) =>
          createHmac("sha1", Buffer.from(salt ?? "", "base64"))
            .update(n)
            .digest("base64") === hash,
      );
    } else {
      const lower = pat.toLowerCase();
      hit = names.some((n) => globMatchLower(lower, n));
    }
    if (hit && negated) return false;
    if (hit) matched = true;
  }
  return matched;
}

/** What known_hosts text says about one host:port. Keys are "type base64". */
export interface HostKeyLines {
  /** Keys the host may present. */
  keys: string[];
  /** Keys it must never present (`@revoked`), whatever else lists them. */
  revoked: string[];
  /** `@cert-authority` lines that match the host: host certificates, which capi-remote cannot check. */
  certAuthorities: number;
}

const KEY_TYPE =
  /^(ssh-(rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)$/;

/**
 * Reads known_hosts text for host:port. A line "type base64" (no host field) applies to any host;
 * "hosts type base64" when a host pattern matches; `@revoked` lines (with or without hosts) list
 * keys to refuse; matching `@cert-authority` lines are counted (not supported: ssh2 does not check
 * host certificates). Throws KnownHostsError, naming `field`, when the text breaks a limit.
 */
export function hostKeyLinesFor(
  knownHosts: string,
  host: string,
  port: number,
  field = "hostKeys",
  /** Only lines with a host field (a bare key in a target's list is not the bastion's). */
  namedOnly = false,
): HostKeyLines {
  const out: HostKeyLines = { keys: [], revoked: [], certAuthorities: 0 };
  const L = KNOWN_HOSTS_LIMITS;
  const lines = knownHosts.split("\n");
  if (lines.length > L.lines)
    throw new KnownHostsError(`${field} has ${lines.length} lines; at most ${L.lines} are allowed`);
  let patterns = 0;
  lines.forEach((line, i) => {
    if (line.length > L.lineChars)
      throw new KnownHostsError(
        `${field} line ${i + 1} has ${line.length} characters; at most ${L.lineChars} are allowed`,
      );
    const fields = line.replace(/#.*/, "").trim().split(/\s+/).filter(Boolean);
    let marker: string | undefined;
    if (fields[0]?.startsWith("@")) marker = fields.shift();
    if (fields.length < 2) return;
    let hosts: string | undefined;
    if (!KEY_TYPE.test(fields[0] ?? "")) hosts = fields.shift();
    const [type, b64] = fields;
    if (!type || !b64) return;
    const key = `${type} ${b64}`;
    if (hosts !== undefined) {
      const n = hosts.split(",").length;
      if (n > L.patternsPerLine)
        throw new KnownHostsError(
          `${field} line ${i + 1} has ${n} host patterns; at most ${L.patternsPerLine} are allowed`,
        );
      patterns += n;
      if (patterns > L.patterns) throw new KnownHostsError(`${field} has more than ${L.patterns} host patterns in all`);
    }
    if (marker === "@revoked") {
      // A revoked key is refused for every host, as OpenSSH does for a revoked key in any line.
      out.revoked.push(key);
      return;
    }
    const applies = hosts === undefined ? !namedOnly : hostMatches(hosts, host, port);
    if (!applies) return;
    if (marker === "@cert-authority") out.certAuthorities++;
    else if (marker === undefined) out.keys.push(key);
  });
  return out;
}

/**
 * The keys pinned for host:port in known_hosts text (see hostKeyLinesFor); revoked keys are
 * never among them.
 */
export function pinnedKeysFor(knownHosts: string, host: string, port: number, field = "hostKeys"): string[] {
  const l = hostKeyLinesFor(knownHosts, host, port, field);
  return l.keys.filter((k) => !l.revoked.some((r) => sameKey(r, k)));
}

const sameKey = (a: string, b: string) =>
  a.trim().split(/\s+/).slice(0, 2).join(" ") === b.trim().split(/\s+/).slice(0, 2).join(" ");

/** Whether a presented key is acceptable under a policy. A revoked key never is. */
export function acceptHostKey(policy: HostKeyPolicy, presented: string): boolean {
  if (policy.mode !== "insecure" && policy.revoked?.some((r) => sameKey(r, presented))) return false;
  switch (policy.mode) {
    case "insecure":
      return true;
    case "pinned":
      return policy.keys.some((k) => sameKey(k, presented));
    case "tofu":
      return !policy.recorded || sameKey(policy.recorded, presented);
  }
}

/** Host-key algorithms to offer, so the server presents a key of a kind we can check. */
export function hostKeyAlgorithms(policy: HostKeyPolicy): string[] | undefined {
  const keys =
    policy.mode === "pinned" ? policy.keys : policy.mode === "tofu" && policy.recorded ? [policy.recorded] : [];
  if (keys.length === 0) return undefined;
  const algs = new Set<string>();
  for (const k of keys) {
    const type = k.split(/\s+/)[0] ?? "";
    if (type === "ssh-rsa") {
      algs.add("rsa-sha2-512");
      algs.add("rsa-sha2-256");
      algs.add("ssh-rsa");
    } else algs.add(type);
  }
  return [...algs];
}
