/**
 * How a bootstrap ends, whichever way it ran (SSH or a Job): success records the provider ID in
 * spec (durable) and the rest in status; a terminal failure is recorded and never retried.
 */
import { ConditionType, DEFAULT_SSH_PORT, formatProviderID, Reason, RemoteAnnotations } from "@capi-remote/shared";
import { R } from "../../../kube/api.js";
import { machineMetadataPatch } from "../../../pool/copy.js";
import type { PhaseResult } from "../../../runtime/reconciler.js";
import { block, condition, type Deps } from "../deps.js";
import type { RM, Scope } from "../scope.js";
import { setBootstrapFailed, setBootstrapSucceeded, setProvisioned } from "../status.js";

/** Bootstrapped: the provider ID goes into spec (durable), the rest into status. */
export async function succeed(
  d: Deps,
  s: Scope,
  hostname: string | undefined,
  finishedAt?: Date,
  steps?: number,
): Promise<void> {
  const { rm } = s;
  d.ctx.queue.forget(s.key);
  d.mem.retryGate.delete(s.key);
  const providerID = formatProviderID(rm.spec.address ?? "", rm.spec.port ?? DEFAULT_SSH_PORT);
  const recorded = rm.metadata.annotations?.[RemoteAnnotations.Hostname];
  const retried = rm.metadata.annotations?.[RemoteAnnotations.BootstrapRetry] !== undefined;
  if (rm.spec.providerID !== providerID || (hostname && recorded !== hostname) || retried) {
    // One write: the provider ID, the hostname the Node will be found by, and the end of the
    // retry record of earlier failures.
    const annotations = {
      ...(hostname ? { [RemoteAnnotations.Hostname]: hostname } : {}),
      ...(retried ? { [RemoteAnnotations.BootstrapRetry]: null } : {}),
    };
    const res = await d.ctx.api.patch<RM>(R.remoteMachines, rm.metadata.namespace, rm.metadata.name, {
      ...(Object.keys(annotations).length ? { metadata: { annotations } } : {}),
      spec: { providerID },
    });
    // The new spec and generation: the status written next observes them.
    s.rm = { ...res, status: s.rm.status };
  }
  // Labels and annotations of the RemoteMachine reach the Machine, as k0smotron passes them.
  const toMachine = s.machine && machineMetadataPatch(s.rm, s.machine);
  if (s.machine && toMachine)
    await d.ctx.api.patch(R.machines, s.machine.metadata.namespace, s.machine.metadata.name, toMachine);
  setBootstrapSucceeded(s.status, finishedAt ?? d.ctx.now(), steps);
  condition(d, s, ConditionType.BootstrapExecSucceeded, "True", Reason.BootstrapSucceeded, "", "Normal");
  setProvisioned(s.status, s.rm.spec.address ?? "", hostname, s.rm.metadata.annotations?.[RemoteAnnotations.Hostname]);
}

/** A failure that is never retried: the machine may be half set up. */
export function failTerminally(
  d: Deps,
  s: Scope,
  reason: string,
  message: string,
  finishedAt?: Date,
  exitCode?: number,
): PhaseResult {
  setBootstrapFailed(s.status, reason, message, finishedAt ?? d.ctx.now(), exitCode);
  condition(d, s, ConditionType.BootstrapExecSucceeded, "False", reason, message, "Warning");
  return block(s, reason, message);
}
