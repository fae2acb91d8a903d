/**
 * Reading fields that k0smotron spells differently in v1beta1 and v1beta2. Our CRDs keep both
 * spellings (see models/remote.ts); these helpers decide which one counts.
 */
import type { Condition } from "./conditions.js";
import type { PooledRemoteMachineSpec, RemoteMachineSpec } from "./models/remote.js";
import { DEFAULT_SSH_PORT, DEFAULT_SSH_USER, DEFAULT_WORKING_DIR } from "./models/remote.js";

type Cleanup = Pick<RemoteMachineSpec, "cleanUpCommands" | "customCleanUpCommands">;

/** Cleanup commands under either name; undefined when neither is set (default cleanup). */
export function cleanUpCommandsOf(spec: Cleanup): string[] | undefined {
  return spec.cleanUpCommands ?? spec.customCleanUpCommands;
}

export { isProvisioned } from "./contract.js";

/** Failure reason and message under either contract. */
export function failureOf(
  status:
    | {
        failureReason?: string;
        failureMessage?: string;
        deprecated?: { v1beta1?: { failureReason?: string; failureMessage?: string } };
      }
    | undefined,
): { reason?: string; message?: string } {
  return {
    reason: status?.failureReason ?? status?.deprecated?.v1beta1?.failureReason,
    message: status?.failureMessage ?? status?.deprecated?.v1beta1?.failureMessage,
  };
}

/** Connection settings with the CRD defaults filled in (for objects not read back from the API). */
export function connectionOf(spec: RemoteMachineSpec | PooledRemoteMachineSpec["machine"]) {
  return {
    address: spec.address,
    port: spec.port ?? DEFAULT_SSH_PORT,
    user: spec.user ?? DEFAULT_SSH_USER,
    useSudo: spec.useSudo ?? false,
    commandsAsScript: spec.commandsAsScript ?? false,
    workingDir: spec.workingDir ?? DEFAULT_WORKING_DIR,
    sshKeySecret: spec.sshKeyRef?.name,
    cleanUpCommands: cleanUpCommandsOf(spec),
  };
}

/** The status fields that express one provisioning state in both contracts at once. */
export function provisionedStatus(provisioned: boolean, conditions: Condition[]) {
  return { ready: provisioned, initialization: { provisioned }, conditions };
}
