/**
 * What must be there before anything runs on a machine: the Cluster's infrastructure, an
 * address, and the bootstrap provider's data. While only the data is missing, the SSH
 * connection is opened ahead (warm-up), so the bootstrap starts one round trip after it arrives.
 * A bootstrap that failed is never run again (the machine is half set up).
 */
import {
  ConditionType,
  DEFAULT_COMMAND_TIMEOUT_SECONDS,
  DEFAULT_WORKING_DIR,
  isClusterInfrastructureProvisioned,
  Reason,
  RemoteAnnotations,
} from "@capi-remote/shared";
import { stateDirFor } from "../../../host/protocol.js";
import { secretValue } from "../../../kube/objects.js";
import type { Phase } from "../../../runtime/reconciler.js";
import { unreadNote } from "../../../security/secrets.js";
import { block, condition, type Deps, secretOf, sshTarget } from "../deps.js";
import type { Scope } from "../scope.js";

const notRebuilt = (s: Scope) => !s.rebuilt;

export const clusterInfra = (_d: Deps): Phase<Scope> => ({
  name: "clusterInfra",
  when: notRebuilt,
  run: (s) => {
    const cluster = s.cluster;
    if (!cluster || !isClusterInfrastructureProvisioned(cluster))
      return block(
        s,
        Reason.WaitingForClusterInfrastructure,
        `waiting for Cluster ${cluster?.metadata.name}'s infrastructure`,
      );
    if (!s.rm.spec.address)
      return block(s, Reason.WaitingForPoolMachine, `waiting for a machine of pool ${s.rm.spec.pool ?? "(none)"}`);
    return undefined;
  },
});

export const bootstrapData = (d: Deps): Phase<Scope> => ({
  name: "bootstrapData",
  when: notRebuilt,
  run: async (s) => {
    const ns = s.rm.metadata.namespace ?? "";
    const dataSecretName = s.machine?.spec.bootstrap?.dataSecretName;
    if (!dataSecretName) {
      await warmUp(d, s);
      return block(s, Reason.WaitingForBootstrapData, "waiting for the bootstrap provider's data Secret");
    }
    const dataSecret = await secretOf(d, ns, dataSecretName);
    const value = secretValue(dataSecret, "value");
    if (value === undefined) {
      await warmUp(d, s);
      const unread = unreadNote(dataSecret);
      if (!unread)
        return block(
          s,
          Reason.BootstrapSecretNotFound,
          `bootstrap data Secret ${dataSecretName} not found or without \`value\``,
        );
      // There, and refused: said once with an Event, fixed by the Secret's owner.
      const message = `bootstrap data Secret ${dataSecretName} is not used${unread}`;
      condition(d, s, ConditionType.BootstrapExecSucceeded, "False", Reason.SecretNotRead, message, "Warning");
      return block(s, Reason.SecretNotRead, message);
    }
    if (s.status.bootstrap?.phase === "Failed") {
      d.ctx.tasks.clear(s.key);
      // A failed bootstrap is never run again (the machine is half set up): delete the Machine.
      return block(
        s,
        s.conditions.find((c) => c.type === ConditionType.BootstrapExecSucceeded)?.reason ?? Reason.BootstrapFailed,
        "the bootstrap failed; delete the Machine to replace it",
      );
    }
    s.data = {
      value,
      format: secretValue(dataSecret, "format"),
      resourceVersion: dataSecret?.metadata.resourceVersion,
    };
    return undefined;
  },
});

/**
 * Everything but the bootstrap data is there: open the SSH connection now (see
 * HostSessions.prepare). Skipped for runs through a Job, after a start, and while a task or a
 * retry wait exists.
 */
async function warmUp(d: Deps, s: Scope): Promise<void> {
  const { rm } = s;
  if (rm.spec.provisionJob || rm.metadata.annotations?.[RemoteAnnotations.BootstrapStarted]) return;
  if (d.ctx.tasks.get(s.key) || d.mem.retryGate.has(s.key)) return;
  const t = await sshTarget(d, s);
  if ("reason" in t) return;
  d.ctx.hosts.prepare(s.key, {
    target: t.target,
    useSudo: rm.spec.useSudo ?? false,
    stateDir: stateDirFor(rm.metadata.namespace ?? "", rm.metadata.name),
    commandTimeoutSeconds: rm.spec.timeouts?.commandSeconds ?? DEFAULT_COMMAND_TIMEOUT_SECONDS,
    workingDir: rm.spec.workingDir ?? DEFAULT_WORKING_DIR,
  });
}
