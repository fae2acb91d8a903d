/**
 * provisionJob: provisioning through a Kubernetes Job (for machines reached through Teleport,
 * Okta ASA and the like), as k0smotron does: the Job is built from `jobSpecTemplate`, the files
 * are mounted from a Secret, and the Job runs `scpCommand` then `sshCommand`. Unlike k0smotron,
 * the machine counts as provisioned only when the Job succeeded. The script the Job runs uses the
 * same once-only runner as the SSH path, so a retried Job pod attaches instead of running again.
 */
import type { RemoteMachine } from "@capi-remote/shared";
import { DEFAULT_SSH_USER } from "@capi-remote/shared";
import { type Plan, shq } from "../cloudinit/plan.js";
import { renderRunner, startCommand, watchCommand } from "../host/runner.js";

export const JOB_LABEL = "remote.infrastructure.cluster.x-k8s.io/remote-machine";
const MOUNT = "/capi-remote";

export interface Job {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    resourceVersion?: string;
    uid?: string;
  };
  spec?: Record<string, unknown>;
  status?: {
    succeeded?: number;
    failed?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

/** The shell script the Job copies to the machine and runs there (as root, or through sudo). */
export function provisionScript(
  plan: Plan,
  o: { stateDir: string; workingDir: string; owner: string; commandTimeoutSeconds: number },
) {
  const rendered = renderRunner(plan, { ...o });
  // A here-document ends its body with a newline: the body is the runner, byte for byte.
  const runner = rendered.endsWith("\n") ? rendered : `${rendered}\n`;
  const eof = "CAPI_REMOTE_PROVISION_EOF";
  return [
    "#!/bin/sh",
    `runner=$(mktemp)`,
    `cat > "$runner" <<'${eof}'`,
    runner.slice(0, -1),
    eof,
    `( ${startCommand(o.stateDir, Buffer.byteLength(runner)).replace(/\n/g, "\n  ")} ) < "$runner"`,
    'rm -f "$runner"',
    `exitline=$( ( ${watchCommand(o.stateDir).replace(/\n/g, "\n  ")} ) | tail -n 1 )`,
    'echo "$exitline"',
    "set -- $exitline",
    '[ "$2" = 0 ] || exit 1',
    "",
  ].join("\n");
}

/** The Secret holding the script (it contains the bootstrap data). */
export function provisionSecret(rm: RemoteMachine, name: string, script: string) {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name,
      namespace: rm.metadata.namespace,
      labels: { [JOB_LABEL]: rm.metadata.name ?? "" },
      ownerReferences: [owner(rm)],
    },
    type: "Opaque",
    stringData: { "provision.sh": script },
  };
}

function owner(rm: RemoteMachine) {
  return {
    apiVersion: rm.apiVersion,
    kind: "RemoteMachine",
    name: rm.metadata.name ?? "",
    uid: rm.metadata.uid ?? "",
    controller: true,
  };
}

/** The Job: the user's template, with the script mounted and the first container's command set. */
export function provisionJob(rm: RemoteMachine, name: string, secretName: string): Job {
  const pj = rm.spec.provisionJob ?? {};
  const tmpl = structuredClone(pj.jobSpecTemplate ?? {}) as {
    metadata?: Record<string, unknown>;
    spec?: Record<string, unknown>;
  };
  const jobSpec = (tmpl.spec ?? {}) as Record<string, unknown> & { template?: { spec?: Record<string, unknown> } };
  const podSpec = (jobSpec.template?.spec ?? {}) as {
    containers?: Record<string, unknown>[];
    volumes?: Record<string, unknown>[];
    restartPolicy?: string;
  };
  const user = rm.spec.user ?? DEFAULT_SSH_USER;
  const target = `${user}@${rm.spec.address}`;
  const remote = `/tmp/capi-remote-provision-${rm.metadata.name}.sh`;
  const run = rm.spec.useSudo && user !== "root" ? `sudo -n sh ${remote}` : `sh ${remote}`;
  const command = `${pj.scpCommand ?? "scp"} ${MOUNT}/provision.sh ${target}:${remote} && ${pj.sshCommand ?? "ssh"} ${target} ${shq(run)}`;
  const containers = podSpec.containers?.length ? podSpec.containers : [{ name: "provision", image: "alpine" }];
  const [first, ...rest] = containers;
  const mounts = ((first?.volumeMounts as unknown[]) ?? []).concat([
    { name: "capi-remote-provision", mountPath: MOUNT, readOnly: true },
  ]);
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      ...(tmpl.metadata ?? {}),
      name,
      namespace: rm.metadata.namespace,
      labels: { ...((tmpl.metadata?.labels as Record<string, string>) ?? {}), [JOB_LABEL]: rm.metadata.name ?? "" },
      ownerReferences: [owner(rm)],
    } as Job["metadata"],
    spec: {
      backoffLimit: 3,
      ...jobSpec,
      template: {
        ...(jobSpec.template ?? {}),
        spec: {
          ...podSpec,
          restartPolicy: podSpec.restartPolicy ?? "Never",
          containers: [{ ...first, command: ["/bin/sh", "-c", command], volumeMounts: mounts }, ...rest],
          volumes: (podSpec.volumes ?? []).concat([
            { name: "capi-remote-provision", secret: { secretName, defaultMode: 0o400 } },
          ]),
        },
      },
    },
  };
}

/** "succeeded", "failed" (with the Job's reason) or "running". */
export function jobOutcome(job: Job): { state: "succeeded" | "failed" | "running"; message?: string } {
  const cond = (t: string) => job.status?.conditions?.find((c) => c.type === t && c.status === "True");
  if (cond("Complete") || (job.status?.succeeded ?? 0) > 0) return { state: "succeeded" };
  const failed = cond("Failed");
  if (failed) return { state: "failed", message: `${failed.reason ?? "Failed"}: ${failed.message ?? ""}`.trim() };
  return { state: "running" };
}
