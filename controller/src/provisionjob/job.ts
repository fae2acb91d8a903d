/**
 * provisionJob: provisioning through a Kubernetes Job (for machines reached through Teleport,
 * Okta ASA and the like). The Job is the one k0smotron's job provisioner builds from
 * `jobSpecTemplate` (its name, its Secret `<job>-job-bootstrap-data` mounted at
 * `/var/lib/bootstrap-data` on the first container, whose image keeps its entrypoint and gets the
 * script as its only argument; `-p`/`-P <port>`); docs/bootstrap.md lists where capi-remote
 * differs on purpose. The script uses the same once-only runner as the SSH path, so a retried
 * pod attaches instead of running again, and the machine counts as provisioned only when the Job
 * succeeded. The controller creates the Job with its own rights, so the pod it may make is
 * bounded (jobPolicyViolation): no ServiceAccount but the namespace's default, no host
 * namespaces, hostPath or privilege, unless the operator allows them (--provision-job-allow).
 */
import { createHash } from "node:crypto";
import type { RemoteMachine } from "@capi-remote/shared";
import { DEFAULT_SSH_PORT } from "@capi-remote/shared";
import { type Plan, shq } from "../cloudinit/plan.js";
import { shellExitCheck } from "../host/protocol.js";
import { renderRunner, startCommand, watchCommand } from "../host/runner.js";

export const JOB_LABEL = "remote.infrastructure.cluster.x-k8s.io/remote-machine";
/** k0smotron's mount path and entrypoint name: images and scripts written for it find them. */
export const MOUNT = "/var/lib/bootstrap-data";
export const ENTRYPOINT = "k0smotron-entrypoint.sh";
export const PAYLOAD = "capi-remote-provision.sh";

export interface Job {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    uid?: string;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  };
  spec?: Record<string, unknown>;
  status?: {
    succeeded?: number;
    failed?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {});
const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v as unknown[]).map(obj) : []);

/** Pod features the operator may allow (--provision-job-allow); none by default. */
export const JOB_ALLOWANCES = ["service-accounts", "host-namespaces", "host-path", "privileged"] as const;
export type JobAllowance = (typeof JOB_ALLOWANCES)[number];

/**
 * Why the Job `rm` asks for would be refused: the field and what is wrong, or undefined. The
 * pod runs with rights the tenant may not have (the controller creates it), so it gets only
 * what a pod of the namespace's default ServiceAccount gets, unless the operator allows more.
 * The tenant's own Secrets, ConfigMaps and claims of the namespace may be mounted (Teleport's
 * identity and Okta's state need them): docs/security.md says who can then read them.
 */
export function jobPolicyViolation(
  rm: Pick<RemoteMachine, "metadata" | "spec">,
  allow: ReadonlySet<JobAllowance> = new Set(),
): { field: string; message: string } | undefined {
  const base = "spec.provisionJob.jobSpecTemplate";
  const tmpl = obj(rm.spec.provisionJob?.jobSpecTemplate);
  const meta = obj(tmpl.metadata);
  const jobSpec = obj(tmpl.spec);
  if (jobSpec.containers !== undefined)
    return {
      field: `${base}.spec.containers`,
      message:
        "containers go under jobSpecTemplate.spec.template.spec.containers; here a Job would drop them and run without your container",
    };
  const pod = obj(obj(jobSpec.template).spec);
  const containers = [...list(pod.containers), ...list(pod.initContainers), ...list(pod.ephemeralContainers)];
  if (list(pod.containers).length === 0)
    return {
      field: `${base}.spec.template.spec.containers`,
      message: "name the container that runs sshCommand and scpCommand (an image with ssh or tsh)",
    };
  if (meta.namespace !== undefined && meta.namespace !== rm.metadata.namespace)
    return {
      field: `${base}.metadata.namespace`,
      message: "the Job is made in the RemoteMachine's own namespace only",
    };
  if (Array.isArray(meta.finalizers) && meta.finalizers.length)
    return { field: `${base}.metadata.finalizers`, message: "the controller's Job takes no finalizers" };
  const sa = (pod.serviceAccountName ?? pod.serviceAccount) as string | undefined;
  if (sa !== undefined && sa !== "" && sa !== "default" && !allow.has("service-accounts"))
    return {
      field: `${base}.spec.template.spec.serviceAccountName`,
      message: `ServiceAccount ${sa} is refused: the Job runs as the namespace's default ServiceAccount unless the operator allows others (--provision-job-allow=service-accounts)`,
    };
  if (!allow.has("host-namespaces"))
    for (const k of ["hostNetwork", "hostPID", "hostIPC"])
      if (pod[k] === true)
        return {
          field: `${base}.spec.template.spec.${k}`,
          message: `${k} is refused unless the operator allows host namespaces (--provision-job-allow=host-namespaces)`,
        };
  if (!allow.has("host-path"))
    for (const [i, v] of list(pod.volumes).entries())
      if (v.hostPath !== undefined)
        return {
          field: `${base}.spec.template.spec.volumes[${i}].hostPath`,
          message: "hostPath volumes are refused unless the operator allows them (--provision-job-allow=host-path)",
        };
  if (!allow.has("privileged")) {
    for (const [i, c] of containers.entries()) {
      const sc = obj(c.securityContext);
      const caps = obj(sc.capabilities);
      if (
        sc.privileged === true ||
        sc.allowPrivilegeEscalation === true ||
        (Array.isArray(caps.add) && caps.add.length > 0) ||
        sc.procMount === "Unmasked"
      )
        return {
          field: `${base}.spec.template.spec.containers[${i}].securityContext`,
          message:
            "privileged containers, privilege escalation, added capabilities and unmasked /proc are refused unless the operator allows them (--provision-job-allow=privileged)",
        };
    }
  }
  return undefined;
}

/** The Job's name: the template's, else `<cluster>-<machine>` as k0smotron names it (63 at most). */
export function jobName(rm: Pick<RemoteMachine, "metadata" | "spec">, clusterName: string): string {
  const given = obj(obj(rm.spec.provisionJob?.jobSpecTemplate).metadata).name;
  if (typeof given === "string" && given) return given;
  const name = `${clusterName}-${rm.metadata.name ?? ""}`;
  // A Job's name becomes a label value on its pods: 63 characters at most.
  if (name.length <= 63) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 10);
  return `${name.slice(0, 52).replace(/[-.]+$/, "")}-${hash}`;
}

export const secretNameFor = (job: string) => `${job}-job-bootstrap-data`;

/** The runner the Job copies to the machine and runs there (as root, or through sudo). */
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
    ...shellExitCheck("exitline"),
    "",
  ].join("\n");
}

/**
 * The script the Job's container runs (its only argument): copies the runner into a fresh
 * private directory on the machine (`mktemp -d`: no predictable path another local user could
 * take), runs it, and removes the directory whatever the outcome. `sshCommand`/`scpCommand` are
 * the user's own command lines for their own image (word-split on purpose, as k0smotron does);
 * every value from the spec (user, address, port, paths) is quoted.
 */
export function entrypointScript(rm: Pick<RemoteMachine, "spec">): string {
  const pj = rm.spec.provisionJob ?? {};
  const ssh = pj.sshCommand || "ssh";
  const scp = pj.scpCommand || "scp";
  const port = rm.spec.port || DEFAULT_SSH_PORT;
  const address = rm.spec.address ?? "";
  const user = rm.spec.user || "";
  const target = user ? `${user}@${address}` : address;
  // scp needs brackets around an IPv6 address before its ":path".
  const scpHost = address.includes(":") ? `[${address}]` : address;
  const scpTarget = user ? `${user}@${scpHost}` : scpHost;
  const sudo = rm.spec.useSudo && user !== "root" ? "sudo -n " : "";
  return [
    "#!/bin/sh",
    "set -eu",
    `target=${shq(target)}`,
    `dir=$(${ssh} -p ${port} "$target" 'umask 077; mktemp -d /tmp/capi-remote-provision.XXXXXXXXXX')`,
    // Only a path mktemp makes is accepted from the machine's answer.
    `case "$dir" in /tmp/capi-remote-provision.*) ;; *) echo "unexpected directory from mktemp: $dir" >&2; exit 1;; esac`,
    `case "$dir" in *[!A-Za-z0-9/._-]*) echo "unexpected directory from mktemp" >&2; exit 1;; esac`,
    `${scp} -P ${port} ${MOUNT}/${PAYLOAD} ${shq(scpTarget)}:"$dir/provision.sh"`,
    `exec ${ssh} -p ${port} "$target" "rc=0; ${sudo}sh $dir/provision.sh || rc=\\$?; rm -rf $dir; exit \\$rc"`,
    "",
  ].join("\n");
}

function owner(rm: Pick<RemoteMachine, "apiVersion" | "metadata">) {
  return {
    apiVersion: rm.apiVersion ?? "infrastructure.cluster.x-k8s.io/v1beta2",
    kind: "RemoteMachine",
    name: rm.metadata.name ?? "",
    uid: rm.metadata.uid ?? "",
    controller: true,
  };
}

/** True when `o` was made for `rm` (a controller owner reference with its UID). */
export function ownedBy(
  o: { metadata: { ownerReferences?: { uid: string; controller?: boolean }[] } },
  rm: Pick<RemoteMachine, "metadata">,
): boolean {
  return !!rm.metadata.uid && !!o.metadata.ownerReferences?.some((r) => r.uid === rm.metadata.uid && r.controller);
}

/** The Secret the Job mounts: the runner with the bootstrap data, and the entrypoint. */
export function provisionSecret(rm: RemoteMachine, job: string, script: string) {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: secretNameFor(job),
      namespace: rm.metadata.namespace,
      labels: { [JOB_LABEL]: rm.metadata.name ?? "" },
      ownerReferences: [owner(rm)],
    },
    type: "Opaque",
    stringData: { [ENTRYPOINT]: entrypointScript(rm), [PAYLOAD]: script },
  };
}

/**
 * The Job, as k0smotron builds it: the template's metadata and spec, in the RemoteMachine's
 * namespace, owned by it; the Secret appended to the volumes and mounted on the first
 * container, which keeps its image's entrypoint and gets the script as its arguments.
 */
export function provisionJob(rm: RemoteMachine, name: string): Job {
  const tmpl = structuredClone(obj(rm.spec.provisionJob?.jobSpecTemplate));
  const meta = obj(tmpl.metadata);
  const jobSpec = obj(tmpl.spec);
  const template = obj(jobSpec.template);
  const pod = obj(template.spec);
  const [first, ...rest] = list(pod.containers);
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      ...meta,
      name,
      namespace: rm.metadata.namespace,
      labels: { ...(obj(meta.labels) as Record<string, string>), [JOB_LABEL]: rm.metadata.name ?? "" },
      ownerReferences: [owner(rm)],
    } as Job["metadata"],
    spec: {
      ...jobSpec,
      template: {
        ...template,
        spec: {
          ...pod,
          // The Job API requires it; k0smotron's Job without it is refused (its docs all say Never).
          restartPolicy: pod.restartPolicy ?? "Never",
          volumes: [
            ...list(pod.volumes),
            {
              name: "bootstrap-data",
              secret: {
                secretName: secretNameFor(name),
                items: [
                  { key: PAYLOAD, path: PAYLOAD },
                  { key: ENTRYPOINT, path: ENTRYPOINT, mode: 0o755 },
                ],
              },
            },
          ],
          containers: [
            {
              ...first,
              volumeMounts: [...list(first?.volumeMounts), { name: "bootstrap-data", mountPath: MOUNT }],
              args: [`${MOUNT}/${ENTRYPOINT}`],
            },
            ...rest,
          ],
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
