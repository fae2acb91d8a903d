/**
 * Builds the SSH target of a machine from its connection fields (a RemoteMachine's spec or a
 * pool machine's spec.machine) and the Secrets they name.
 */
import {
  DEFAULT_CONNECT_TIMEOUT_SECONDS,
  DEFAULT_SSH_PORT,
  DEFAULT_SSH_USER,
  type PooledRemoteMachineSpec,
  Reason,
  type RemoteMachineSpec,
} from "@capi-remote/shared";
import { type Secret, secretValue } from "../kube/objects.js";
import { withK0smotronDefaults } from "../migration/defaults.js";
import type { SSHTarget } from "../ssh/executor.js";
import type { HostKeyPolicy } from "../ssh/hostkeys.js";
import { hostKeyPolicies } from "./hostkeypolicy.js";
import { type SecretReader, unreadNote } from "./secrets.js";

/**
 * The controller-wide --require-pinned-host-keys flag, set once at start (main.ts): every
 * reconciler builds targets through here, so the flag does not have to travel through each.
 */
let requirePinnedDefault = false;
export function setRequirePinnedHostKeys(on: boolean): void {
  requirePinnedDefault = on;
}

export type ConnectionSpec = RemoteMachineSpec | PooledRemoteMachineSpec["machine"];

/**
 * The Secrets a connection reads, by name: its SSH key, its known_hosts, its bastion's key. The
 * one list both the reads below and the watches that wake a machine when one changes use.
 */
export function connectionSecretNames(spec: ConnectionSpec): string[] {
  return [spec.sshKeyRef?.name, spec.hostKeysSecretRef?.name, spec.bastion?.sshKeyRef.name].filter(
    (n): n is string => !!n,
  );
}

/** `sshTargetFor` over the Secrets of `namespace`, read first (security/secrets.ts). */
export async function readSshTarget(
  secrets: Pick<SecretReader, "getAll">,
  namespace: string,
  spec: ConnectionSpec,
  recordedHostKey: string | undefined,
): Promise<ReturnType<typeof sshTargetFor>> {
  const got = await secrets.getAll(namespace, connectionSecretNames(spec));
  return sshTargetFor((n) => (n ? got.get(n) : undefined), spec, recordedHostKey);
}

/** The target, or the reason (a condition reason) and message why it cannot be built. */
export function sshTargetFor(
  secret: (name: string | undefined) => Secret | undefined,
  spec: ConnectionSpec,
  recordedHostKey: string | undefined,
  opts: { requirePinned?: boolean } = { requirePinned: requirePinnedDefault },
): { target: SSHTarget; policy: HostKeyPolicy["mode"] } | { reason: string; message: string } {
  spec = withK0smotronDefaults(spec);
  const keySecret = secret(spec.sshKeyRef?.name);
  if (!keySecret || !spec.sshKeyRef?.name) {
    return {
      reason: Reason.SSHKeySecretNotFound,
      message: `SSH key Secret ${spec.sshKeyRef?.name ?? "(none)"} not found`,
    };
  }
  const privateKey = secretValue(keySecret, "value");
  if (!privateKey)
    return {
      reason: Reason.InvalidSSHKey,
      message: `SSH key Secret ${keySecret.metadata.name} has no key \`value\`${unreadNote(keySecret)}`,
    };
  const passphrase = secretValue(keySecret, "passphrase");
  const address = spec.address ?? "";
  const port = spec.port ?? DEFAULT_SSH_PORT;
  const keys = hostKeyPolicies(secret, spec, address, port, recordedHostKey, opts);
  if ("reason" in keys) return keys;
  const hostKeys = keys.target;
  let bastion: SSHTarget["bastion"];
  if (spec.bastion) {
    const b = spec.bastion;
    if (!keys.bastion) throw new Error("no host-key policy for a bastion"); // hostKeyPolicies always gives one
    const bs = secret(b.sshKeyRef.name);
    const bkey = secretValue(bs, "value");
    if (!bkey)
      return {
        reason: Reason.SSHKeySecretNotFound,
        message: `bastion SSH key Secret ${b.sshKeyRef.name} not found or without \`value\`${unreadNote(bs)}`,
      };
    const bpass = secretValue(bs, "passphrase");
    bastion = {
      host: b.address,
      port: b.port ?? DEFAULT_SSH_PORT,
      user: b.user ?? DEFAULT_SSH_USER,
      privateKey: bkey,
      ...(bpass ? { passphrase: bpass } : {}),
      hostKeys: keys.bastion,
    };
  }
  return {
    policy: hostKeys.mode,
    target: {
      host: address,
      port,
      user: spec.user ?? DEFAULT_SSH_USER,
      privateKey,
      ...(passphrase ? { passphrase } : {}),
      hostKeys,
      connectTimeoutMs: (spec.timeouts?.connectSeconds ?? DEFAULT_CONNECT_TIMEOUT_SECONDS) * 1000,
      ...(bastion ? { bastion } : {}),
    },
  };
}
