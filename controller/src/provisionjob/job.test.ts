/**
 * provisionJob against k0smotron's job provisioner (internal/controller/infrastructure/
 * job_provisioner.go, read for this): golden Jobs for the Teleport and Okta ASA examples of
 * k0smotron's docs, written as k0smotron's API accepts them (a JobTemplateSpec: the docs show the
 * containers one level too high, which k0smotron's API server refuses and ours refuses with a
 * message), the entrypoint script (port, quoting, no fixed path on the machine) and the policy.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import type { RemoteMachine } from "@capi-remote/shared";
import {
  entrypointScript,
  jobName,
  jobOutcome,
  jobPolicyViolation,
  ownedBy,
  provisionJob,
  provisionSecret,
} from "./job.js";

const rm = (spec: RemoteMachine["spec"]): RemoteMachine => ({
  apiVersion: "infrastructure.cluster.x-k8s.io/v1beta1",
  kind: "RemoteMachine",
  metadata: { name: "remote-test-0", namespace: "default", uid: "uid-1" },
  // The CRD's defaults (port 22, user root) are filled in by the API server before we read it.
  spec: { port: 22, user: "root", ...spec },
});

const teleport = rm({
  address: "server-name",
  useSudo: false,
  provisionJob: {
    sshCommand: "tsh -i /identity-output/identity --proxy teleport.example.com:443 ssh",
    scpCommand: "tsh -i /identity-output/identity --proxy teleport.example.com:443 scp",
    jobSpecTemplate: {
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: "teleport",
                image: "public.ecr.aws/gravitational/teleport:14.3.3",
                volumeMounts: [{ name: "identity-output", mountPath: "/identity-output" }],
              },
            ],
            volumes: [{ name: "identity-output", secret: { secretName: "identity-output" } }],
            restartPolicy: "Never",
          },
        },
      },
    },
  },
});

const okta = rm({
  address: "server-name",
  useSudo: true,
  provisionJob: {
    sshCommand: "ssh",
    scpCommand: "scp",
    jobSpecTemplate: {
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: "okta-asa",
                image: "makhov/okta-asa-demo:latest",
                imagePullPolicy: "Always",
                volumeMounts: [
                  { name: "config", mountPath: "/etc/sft/sftd.yaml", subPath: "sftd.yaml" },
                  { name: "config", mountPath: "/root/.config/ScaleFT/sft.conf", subPath: "sft.conf" },
                  { name: "sftd-lib", mountPath: "/var/lib/sftd" },
                ],
              },
            ],
            volumes: [
              { name: "config", configMap: { name: "okta-asa-config" } },
              { name: "sftd-lib", persistentVolumeClaim: { claimName: "okta-asa-demo-pvc" } },
            ],
            restartPolicy: "Never",
          },
        },
      },
    },
  },
});

/** What k0smotron's job provisioner makes of a template (differences from it marked). */
function k0smotronJob(r: RemoteMachine, container: Record<string, unknown>, volumes: unknown[]) {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: "c1-remote-test-0", // <cluster>-<remote machine>
      namespace: "default",
      // capi-remote: a label to find its Jobs by, and `controller: true` to prove ownership.
      labels: { "remote.infrastructure.cluster.x-k8s.io/remote-machine": "remote-test-0" },
      ownerReferences: [
        { apiVersion: r.apiVersion, kind: "RemoteMachine", name: "remote-test-0", uid: "uid-1", controller: true },
      ],
    },
    spec: {
      template: {
        spec: {
          restartPolicy: "Never",
          volumes: [
            ...volumes,
            {
              name: "bootstrap-data",
              secret: {
                secretName: "c1-remote-test-0-job-bootstrap-data",
                // k0smotron: one item per file plus the entrypoint; capi-remote: the once-only
                // runner with the data, plus the entrypoint.
                items: [
                  { key: "capi-remote-provision.sh", path: "capi-remote-provision.sh" },
                  { key: "k0smotron-entrypoint.sh", path: "k0smotron-entrypoint.sh", mode: 0o755 },
                ],
              },
            },
          ],
          containers: [
            {
              ...container,
              volumeMounts: [
                ...((container.volumeMounts as unknown[]) ?? []),
                { name: "bootstrap-data", mountPath: "/var/lib/bootstrap-data" },
              ],
              // No `command`: the image's entrypoint runs, with the script as its argument.
              args: ["/var/lib/bootstrap-data/k0smotron-entrypoint.sh"],
            },
          ],
        },
      },
    },
  };
}

describe("provisionJob: the Job k0smotron makes", () => {
  it("k0smotron's Teleport example", () => {
    const tmpl = teleport.spec.provisionJob?.jobSpecTemplate?.spec as { template: { spec: Record<string, unknown> } };
    const pod = tmpl.template.spec as { containers: Record<string, unknown>[]; volumes: unknown[] };
    assert.deepEqual(
      provisionJob(teleport, jobName(teleport, "c1")),
      k0smotronJob(teleport, pod.containers[0] as Record<string, unknown>, pod.volumes),
    );
  });

  it("k0smotron's Okta ASA example", () => {
    const tmpl = okta.spec.provisionJob?.jobSpecTemplate?.spec as { template: { spec: Record<string, unknown> } };
    const pod = tmpl.template.spec as { containers: Record<string, unknown>[]; volumes: unknown[] };
    assert.deepEqual(
      provisionJob(okta, jobName(okta, "c1")),
      k0smotronJob(okta, pod.containers[0] as Record<string, unknown>, pod.volumes),
    );
  });

  it("names the Job from the template when it has a name, else <cluster>-<machine>, at most 63 characters", () => {
    const named = rm({ address: "h", provisionJob: { jobSpecTemplate: { metadata: { name: "pj" } } } });
    assert.equal(jobName(named, "c1"), "pj");
    const long = { ...teleport, metadata: { ...teleport.metadata, name: "x".repeat(70) } };
    const n = jobName(long, "cluster");
    assert.ok(n.length <= 63, n);
    assert.notEqual(n, jobName({ ...long, metadata: { ...long.metadata, name: "y".repeat(70) } }, "cluster"));
  });

  it("the Secret holds the entrypoint and the runner, owned by the RemoteMachine", () => {
    const s = provisionSecret(teleport, "c1-remote-test-0", "RUNNER");
    assert.equal(s.metadata.name, "c1-remote-test-0-job-bootstrap-data");
    assert.equal(s.stringData["capi-remote-provision.sh"], "RUNNER");
    assert.match(s.stringData["k0smotron-entrypoint.sh"], /^#!\/bin\/sh\n/);
    assert.ok(ownedBy(s, teleport));
    assert.ok(!ownedBy({ metadata: { ownerReferences: [{ uid: "uid-1" }] } }, teleport), "not as controller");
    assert.ok(!ownedBy({ metadata: {} }, teleport));
  });
});

describe("provisionJob: the entrypoint script", () => {
  it("honours spec.port (ssh -p, scp -P) and runs through sudo for a non-root user", () => {
    const script = entrypointScript(rm({ address: "10.0.0.5", port: 2222, user: "ops", useSudo: true }));
    assert.match(script, /ssh -p 2222 "\$target" 'umask 077; mktemp -d/);
    assert.match(
      script,
      /scp -P 2222 \/var\/lib\/bootstrap-data\/capi-remote-provision\.sh 'ops@10\.0\.0\.5':"\$dir\/provision\.sh"/,
    );
    assert.match(script, /exec ssh -p 2222 "\$target" "rc=0; sudo -n sh \$dir\/provision\.sh/);
    assert.match(script, /rm -rf \$dir/, "the directory goes whatever the outcome");
    assert.doesNotMatch(script, /\/tmp\/capi-remote-provision-/, "no predictable path on the machine");
  });

  it("quotes user and address: a hostile value stays one argument", () => {
    const script = entrypointScript(rm({ address: "h;id>/tmp/pwned", user: "x'$(id)" }));
    // Run it with ssh and scp replaced by functions that print their arguments.
    const out = execFileSync(
      "sh",
      [
        "-c",
        `ssh() { for a; do printf '<%s>' "$a"; done; echo; [ "$3" = "$3" ]; case "$4" in *mktemp*) echo /tmp/capi-remote-provision.abc ;; esac; }
scp() { for a; do printf '<%s>' "$a"; done; echo; }
${script.replace("exec ssh", "ssh").replace("#!/bin/sh", "").replace("dir=$(ssh", "dir=$(ssh 2>/dev/null").replace("dir=$(ssh 2>/dev/null -p 22 \"$target\" 'umask 077; mktemp -d /tmp/capi-remote-provision.XXXXXXXXXX')", "dir=/tmp/capi-remote-provision.abc")}`,
      ],
      { encoding: "utf8" },
    );
    assert.ok(out.includes("<x'$(id)@h;id>/tmp/pwned>"), out);
    assert.ok(!out.includes("uid="), "nothing ran");
  });

  it("brackets an IPv6 address for scp", () => {
    assert.match(entrypointScript(rm({ address: "fd00::5" })), /'root@\[fd00::5\]':"\$dir/);
  });
});

describe("provisionJob: what the controller will not make", () => {
  const withPod = (pod: Record<string, unknown>, meta: Record<string, unknown> = {}) =>
    rm({
      address: "h",
      provisionJob: {
        jobSpecTemplate: {
          metadata: meta,
          spec: { template: { spec: { containers: [{ name: "c", image: "i" }], ...pod } } },
        },
      },
    });
  const cases: [string, RemoteMachine, string][] = [
    [
      "containers where k0smotron's docs put them",
      rm({ address: "h", provisionJob: { jobSpecTemplate: { spec: { containers: [{ name: "c", image: "i" }] } } } }),
      "spec.containers",
    ],
    ["no container", rm({ address: "h", provisionJob: {} }), "spec.template.spec.containers"],
    ["a foreign ServiceAccount", withPod({ serviceAccountName: "deployer" }), "serviceAccountName"],
    ["the host's network", withPod({ hostNetwork: true }), "hostNetwork"],
    ["the host's PIDs", withPod({ hostPID: true }), "hostPID"],
    ["a hostPath volume", withPod({ volumes: [{ name: "root", hostPath: { path: "/" } }] }), "volumes[0].hostPath"],
    [
      "a privileged container",
      withPod({ containers: [{ name: "c", image: "i", securityContext: { privileged: true } }] }),
      "securityContext",
    ],
    [
      "an init container with added capabilities",
      withPod({
        initContainers: [{ name: "c", image: "i", securityContext: { capabilities: { add: ["SYS_ADMIN"] } } }],
      }),
      "securityContext",
    ],
    ["another namespace", withPod({}, { namespace: "kube-system" }), "metadata.namespace"],
    ["finalizers", withPod({}, { finalizers: ["x"] }), "metadata.finalizers"],
  ];
  for (const [what, r, field] of cases)
    it(`refuses ${what}, naming the field`, () => {
      const v = jobPolicyViolation(r);
      assert.ok(v, what);
      assert.ok(v.field.includes(field), `${v.field} should name ${field}`);
    });

  it("the operator's allowances lift exactly their part", () => {
    assert.equal(
      jobPolicyViolation(withPod({ serviceAccountName: "deployer" }), new Set(["service-accounts"])),
      undefined,
    );
    assert.ok(
      jobPolicyViolation(withPod({ serviceAccountName: "deployer", hostPID: true }), new Set(["service-accounts"])),
    );
    assert.equal(jobPolicyViolation(withPod({ hostNetwork: true }), new Set(["host-namespaces"])), undefined);
  });

  it("k0smotron's own examples pass: namespace Secrets, ConfigMaps and claims, the default ServiceAccount", () => {
    assert.equal(jobPolicyViolation(teleport), undefined);
    assert.equal(jobPolicyViolation(okta), undefined);
    assert.equal(jobPolicyViolation(withPod({ serviceAccountName: "default" })), undefined);
  });
});

describe("jobOutcome", () => {
  it("reads Complete, Failed and running Jobs", () => {
    assert.equal(
      jobOutcome({ metadata: { name: "j" }, status: { conditions: [{ type: "Complete", status: "True" }] } }).state,
      "succeeded",
    );
    assert.deepEqual(
      jobOutcome({
        metadata: { name: "j" },
        status: { conditions: [{ type: "Failed", status: "True", reason: "BackoffLimitExceeded" }] },
      }),
      { state: "failed", message: "BackoffLimitExceeded:" },
    );
    assert.equal(jobOutcome({ metadata: { name: "j" }, status: {} }).state, "running");
  });
});
