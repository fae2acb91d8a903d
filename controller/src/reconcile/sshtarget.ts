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
import type { SSHTarget } from "../ssh/executor.js";
import { type HostKeyPolicy, pinnedKeysFor } from "../ssh/hostkeys.js";
import { type Secret, secretValue } from "./context.js";

export type ConnectionSpec = RemoteMachineSpec | PooledRemoteMachineSpec["machine"];

/** The target, or the reason (a condition reason) and message why it cannot be built. */
export function sshTargetFor(
  secret: (name: string | undefined) => Secret | undefined,
  spec: ConnectionSpec,
  recordedHostKey: string | undefined,
): { target: SSHTarget; policy: HostKeyPolicy["mode"] } | { reason: string; message: string } {
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
      message: `SSH key Secret ${keySecret.metadata.name} has no key \`value\``,
    };
  const passphrase = secretValue(keySecret, "passphrase");
  const address = spec.address ?? "";
  const port = spec.port ?? DEFAULT_SSH_PORT;
  let hostKeys: HostKeyPolicy;
  if (spec.insecureSkipHostKeyVerification) hostKeys = { mode: "insecure" };
  else {
    const pinned = pinnedKeysFor((spec.hostKeys ?? []).join("\n"), address, port);
    if (spec.hostKeysSecretRef) {
      const hs = secret(spec.hostKeysSecretRef.name);
      const text = secretValue(hs, spec.hostKeysSecretRef.key ?? "known_hosts");
      if (text === undefined) {
        return {
          reason: Reason.HostKeySecretNotFound,
          message: `known_hosts Secret ${spec.hostKeysSecretRef.name} (key ${spec.hostKeysSecretRef.key ?? "known_hosts"}) not found`,
        };
      }
      pinned.push(...pinnedKeysFor(text, address, port));
    }
    hostKeys =
      pinned.length > 0 || spec.hostKeys || spec.hostKeysSecretRef
        ? { mode: "pinned", keys: pinned }
        : { mode: "tofu", ...(recordedHostKey ? { recorded: recordedHostKey } : {}) };
  }
  let bastion: SSHTarget["bastion"];
  if (spec.bastion) {
    const b = spec.bastion;
    const bs = secret(b.sshKeyRef.name);
    const bkey = secretValue(bs, "value");
    if (!bkey)
      return { reason: Reason.SSHKeySecretNotFound, message: `bastion SSH key Secret ${b.sshKeyRef.name} not found` };
    const bport = b.port ?? DEFAULT_SSH_PORT;
    const bpinned = pinnedKeysFor((b.hostKeys ?? []).join("\n"), b.address, bport);
    const bpass = secretValue(bs, "passphrase");
    bastion = {
      host: b.address,
      port: bport,
      user: b.user ?? DEFAULT_SSH_USER,
      privateKey: bkey,
      ...(bpass ? { passphrase: bpass } : {}),
      hostKeys: spec.insecureSkipHostKeyVerification
        ? { mode: "insecure" }
        : bpinned.length
          ? { mode: "pinned", keys: bpinned }
          : { mode: "tofu" },
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
