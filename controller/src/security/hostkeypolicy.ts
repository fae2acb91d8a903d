/**
 * The host-key policies of a machine's target and its bastion, from its connection fields and
 * the known_hosts Secret they name. Fails closed: a bastion is only used with a pinned key (it
 * has no place to record one, and it carries the session to the target), pins that do not match
 * the address mean "refuse", and text that breaks a limit is a condition, never a partial list.
 */
import { DEFAULT_SSH_PORT, Reason } from "@capi-remote/shared";
import { type Secret, secretValue } from "../kube/objects.js";
import { type HostKeyLines, type HostKeyPolicy, hostKeyLinesFor, KnownHostsError } from "../ssh/hostkeys.js";
import { unreadNote } from "./secrets.js";
import type { ConnectionSpec } from "./sshtarget.js";

type Refusal = { reason: string; message: string };

function merge(a: HostKeyLines, b: HostKeyLines): HostKeyLines {
  return {
    keys: [...a.keys, ...b.keys],
    revoked: [...a.revoked, ...b.revoked],
    certAuthorities: a.certAuthorities + b.certAuthorities,
  };
}

const EMPTY: HostKeyLines = { keys: [], revoked: [], certAuthorities: 0 };

function pinned(lines: HostKeyLines): HostKeyPolicy {
  const keys = lines.keys.filter((k) => !lines.revoked.includes(k));
  return { mode: "pinned", keys, ...(lines.revoked.length ? { revoked: lines.revoked } : {}) };
}

/** Host certificates only: say so rather than fail every connection with a key mismatch. */
function certOnly(lines: HostKeyLines, what: string, field: string): Refusal | undefined {
  if (lines.keys.length > 0 || lines.certAuthorities === 0) return undefined;
  return {
    reason: Reason.InvalidHostKeys,
    message: `${field} pins ${what} only through @cert-authority lines; capi-remote cannot check host certificates: pin the host's own keys`,
  };
}

export function hostKeyPolicies(
  secret: (name: string | undefined) => Secret | undefined,
  spec: ConnectionSpec,
  address: string,
  port: number,
  recordedHostKey: string | undefined,
  opts: { requirePinned?: boolean } = {},
): { target: HostKeyPolicy; bastion?: HostKeyPolicy } | Refusal {
  if (spec.insecureSkipHostKeyVerification)
    return { target: { mode: "insecure" }, ...(spec.bastion ? { bastion: { mode: "insecure" } } : {}) };
  try {
    let known = "";
    let knownField = "";
    if (spec.hostKeysSecretRef) {
      const ref = spec.hostKeysSecretRef;
      const text = secretValue(secret(ref.name), ref.key ?? "known_hosts");
      if (text === undefined)
        return {
          reason: Reason.HostKeySecretNotFound,
          message: `known_hosts Secret ${ref.name} (key ${ref.key ?? "known_hosts"}) not found${unreadNote(secret(ref.name))}`,
        };
      known = text;
      knownField = `spec.hostKeysSecretRef (Secret ${ref.name}, key ${ref.key ?? "known_hosts"})`;
    }
    const fromSpec = hostKeyLinesFor((spec.hostKeys ?? []).join("\n"), address, port, "spec.hostKeys");
    const fromSecret = known ? hostKeyLinesFor(known, address, port, knownField) : EMPTY;
    const lines = merge(fromSpec, fromSecret);
    const refusal = certOnly(lines, `${address}`, "spec.hostKeys / spec.hostKeysSecretRef");
    if (refusal) return refusal;
    let target: HostKeyPolicy;
    if (lines.keys.length > 0 || spec.hostKeys || spec.hostKeysSecretRef) target = pinned(lines);
    else if (opts.requirePinned)
      return {
        reason: Reason.HostKeyNotPinned,
        message: `no host key is pinned for ${address} and the controller requires pinned keys (--require-pinned-host-keys): set spec.hostKeys or spec.hostKeysSecretRef`,
      };
    else
      target = {
        mode: "tofu",
        ...(recordedHostKey ? { recorded: recordedHostKey } : {}),
        ...(lines.revoked.length ? { revoked: lines.revoked } : {}),
      };
    if (!spec.bastion) return { target };
    const b = spec.bastion;
    const bport = b.port ?? DEFAULT_SSH_PORT;
    // The bastion's own pins, and lines naming the bastion in the known_hosts Secret; bare keys
    // in spec.hostKeys are the target's and never apply to the bastion.
    const bFromSpec = hostKeyLinesFor((b.hostKeys ?? []).join("\n"), b.address, bport, "spec.bastion.hostKeys");
    const bFromSecret = known ? hostKeyLinesFor(known, b.address, bport, knownField, true) : EMPTY;
    const blines = merge(bFromSpec, { ...bFromSecret, revoked: [...bFromSecret.revoked, ...fromSecret.revoked] });
    const brefusal = certOnly(blines, `bastion ${b.address}`, "spec.bastion.hostKeys");
    if (brefusal) return brefusal;
    if (blines.keys.length === 0)
      return {
        reason: Reason.HostKeyNotPinned,
        message: b.hostKeys
          ? `spec.bastion.hostKeys pins no key for the bastion's address ${b.address} (port ${bport}): the bastion is refused`
          : `the bastion ${b.address} has no pinned host key: set spec.bastion.hostKeys (or a line for ${b.address} in the hostKeysSecretRef known_hosts); a bastion's key is never taken on first use`,
      };
    return { target, bastion: pinned(blines) };
  } catch (e) {
    if (e instanceof KnownHostsError) return { reason: Reason.InvalidHostKeys, message: e.message };
    throw e;
  }
}
