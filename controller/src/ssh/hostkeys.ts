/**
 * Host-key policy: pinned keys (known_hosts lines or bare "type base64" entries), a key recorded
 * on first use, or no checking at all (k0smotron's behaviour, only on explicit request).
 * Pure functions; known_hosts parsing here because no maintained npm package parses OpenSSH's
 * known_hosts with hashed entries, patterns and markers.
 */
import { createHash, createHmac } from "node:crypto";

export type HostKeyPolicy =
  | { mode: "pinned"; keys: string[] }
  | { mode: "tofu"; recorded?: string }
  | { mode: "insecure" };

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

function globMatch(pattern: string, s: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
    "i",
  );
  return re.test(s);
}

function hostMatches(field: string, host: string, port: number): boolean {
  const names = port === 22 ? [host, `[${host}]:22`] : [`[${host}]:${port}`];
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
      hit = names.some((n) => globMatch(pat, n));
    }
    if (hit && negated) return false;
    if (hit) matched = true;
  }
  return matched;
}

/**
 * The keys pinned for host:port in known_hosts text. Lines of the form "type base64" (no host
 * field) apply to any host. @revoked and @cert-authority lines are not used as pins.
 */
export function pinnedKeysFor(knownHosts: string, host: string, port: number): string[] {
  const out: string[] = [];
  for (const line of knownHosts.split("\n")) {
    const fields = line.replace(/#.*/, "").trim().split(/\s+/).filter(Boolean);
    if (fields.length < 2 || fields[0]?.startsWith("@")) continue;
    if (/^(ssh-|ecdsa-|sk-)/.test(fields[0] ?? "")) {
      out.push(`${fields[0]} ${fields[1]}`);
    } else if (fields.length >= 3 && hostMatches(fields[0] ?? "", host, port)) {
      out.push(`${fields[1]} ${fields[2]}`);
    }
  }
  return out;
}

const sameKey = (a: string, b: string) =>
  a.trim().split(/\s+/).slice(0, 2).join(" ") === b.trim().split(/\s+/).slice(0, 2).join(" ");

/** Whether a presented key is acceptable under a policy. */
export function acceptHostKey(policy: HostKeyPolicy, presented: string): boolean {
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
