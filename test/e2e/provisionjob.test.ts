/**
 * provisionJob: the controller creates the Job and its Secret as k0smotron does; the Job's own
 * command, run here with the real ssh/scp against a real sshd host, bootstraps the machine; the
 * RemoteMachine is provisioned only once the Job succeeded, and a failed Job is a condition.
 * (The test bed has no kubelet: the test runs the Job's command and writes the Job's status.)
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { makeKeyPair } from "../bed/fixtures.js";
import { countLines, createHost, destroyHost, type TestHost } from "../bed/hosts.js";
import { canMakeHosts } from "../bed/index.js";
import { waitFor } from "../bed/util.js";
import { useBed } from "../integration/helpers.js";
import { type Any, ControllerProcess, makeCluster, makeMachine, objects, testBootstrap } from "./harness.js";

const run = promisify(execFile);

describe("provisionJob", { skip: canMakeHosts() ? false : "test hosts need root" }, () => {
  const t = useBed("pjob");
  let ctl: ControllerProcess;
  let h: TestHost;
  let o: ReturnType<typeof objects>;
  let sshOpts = "";

  before(async () => {
    o = objects(t.bed, t.ns);
    const key = await makeKeyPair("ed25519");
    h = await createHost("pjob-host", [key.publicKey]);
    const dir = await mkdtemp(join(tmpdir(), "pjob-"));
    await writeFile(join(dir, "id"), key.privateKey, { mode: 0o600 });
    await writeFile(join(dir, "known_hosts"), `${h.knownHostsLine}\n`);
    sshOpts = `-i ${dir}/id -o UserKnownHostsFile=${dir}/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes`;
    await makeCluster(t.bed, t.ns, "c1");
    ctl = new ControllerProcess(t.bed, t.ns, "pjob");
    await ctl.start();
  });
  after(async () => {
    await ctl?.stop();
    if (h) await destroyHost(h);
  });

  const job = (name: string) =>
    waitFor(
      `Job ${name}`,
      async () =>
        (await t.bed.clients.objects.read({
          apiVersion: "batch/v1",
          kind: "Job",
          metadata: { name, namespace: t.ns },
        })) as Any,
      {
        timeoutMs: 30_000,
      },
    );
  const setJobStatus = async (name: string, status: Any) => {
    await job(name);
    const { request } = await import("node:https");
    await new Promise<void>((resolve, reject) => {
      const req = request(
        `${t.bed.controlPlane.server}/apis/batch/v1/namespaces/${t.ns}/jobs/${name}/status`,
        {
          method: "PATCH",
          ca: t.bed.controlPlane.caPEM,
          headers: {
            authorization: `Bearer ${t.bed.controlPlane.token}`,
            "content-type": "application/merge-patch+json",
          },
        },
        (res) => {
          let body = "";
          res.on("data", (d: Buffer) => {
            body += d.toString();
          });
          res.on("end", () =>
            (res.statusCode ?? 0) < 300 ? resolve() : reject(new Error(`${res.statusCode}: ${body}`)),
          );
        },
      );
      req.on("error", reject);
      req.end(JSON.stringify({ status }));
    });
  };
  const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

  it("creates the Job and Secret from the template; provisioned once the Job (run for real) succeeded", async () => {
    await makeMachine(
      t.bed,
      t.ns,
      "m-job",
      "c1",
      {
        address: h.address,
        provisionJob: {
          sshCommand: `ssh ${sshOpts}`,
          scpCommand: `scp ${sshOpts}`,
          jobSpecTemplate: {
            metadata: { labels: { team: "infra" } },
            spec: { template: { spec: { containers: [{ name: "tsh", image: "teleport:16" }] } } },
          },
        },
      },
      testBootstrap(t.bed),
    );
    const j = await job("m-job-provision");
    assert.equal(j.metadata.labels.team, "infra");
    assert.equal(j.metadata.ownerReferences[0].kind, "RemoteMachine");
    const c = j.spec.template.spec.containers[0];
    assert.equal(c.image, "teleport:16");
    assert.ok(c.volumeMounts.some((m: Any) => m.mountPath === "/capi-remote"));
    assert.equal(j.spec.template.spec.volumes[0].secret.secretName, "m-job-provision");
    const rm = await waitFor("ProvisionJobRunning", async () => {
      const x = await o.rm("m-job");
      return o.condition(x, "BootstrapExecSucceeded")?.reason === "ProvisionJobRunning" ? x : undefined;
    });
    assert.notEqual(rm.status?.initialization?.provisioned, true, "not provisioned while the Job runs");

    // Run the Job's command as its pod would, with the Secret mounted at /capi-remote.
    const secret = await t.bed.clients.core.readNamespacedSecret({ name: "m-job-provision", namespace: t.ns });
    const mount = await mkdtemp(join(tmpdir(), "pjob-mount-"));
    await writeFile(join(mount, "provision.sh"), Buffer.from(secret.data?.["provision.sh"] ?? "", "base64"));
    const command = c.command[2].replaceAll("/capi-remote/", `${mount}/`);
    await run("sh", ["-c", command], { timeout: 60_000 });
    assert.equal(await countLines(h, "/var/log/capi-remote-test-runs", "run"), 1);
    // A retried pod attaches to the finished run instead of running again.
    await run("sh", ["-c", command], { timeout: 60_000 });
    assert.equal(await countLines(h, "/var/log/capi-remote-test-runs", "run"), 1);

    await setJobStatus("m-job-provision", {
      startTime: now(),
      completionTime: now(),
      succeeded: 1,
      conditions: [
        { type: "SuccessCriteriaMet", status: "True", lastTransitionTime: now(), lastProbeTime: now() },
        { type: "Complete", status: "True", lastTransitionTime: now(), lastProbeTime: now() },
      ],
    });
    await o.waitProvisioned("m-job", 30_000);
    assert.equal((await o.rm("m-job")).spec.providerID, `remote-machine://${h.address}:22`);
  });

  it("a failed Job is a terminal ProvisionJobFailed condition", async () => {
    await makeMachine(
      t.bed,
      t.ns,
      "m-jobfail",
      "c1",
      { address: "10.99.0.1", provisionJob: { sshCommand: "ssh" } },
      testBootstrap(t.bed),
    );
    await job("m-jobfail-provision");
    await setJobStatus("m-jobfail-provision", {
      startTime: now(),
      failed: 4,
      conditions: [
        {
          type: "FailureTarget",
          status: "True",
          reason: "BackoffLimitExceeded",
          message: "Job has reached the specified backoff limit",
          lastTransitionTime: now(),
          lastProbeTime: now(),
        },
        {
          type: "Failed",
          status: "True",
          reason: "BackoffLimitExceeded",
          message: "Job has reached the specified backoff limit",
          lastTransitionTime: now(),
          lastProbeTime: now(),
        },
      ],
    });
    await waitFor(
      "ProvisionJobFailed",
      async () => o.condition(await o.rm("m-jobfail"), "BootstrapExecSucceeded")?.reason === "ProvisionJobFailed",
      { timeoutMs: 30_000 },
    );
    const rm = await o.rm("m-jobfail");
    assert.match(rm.status.failureMessage, /BackoffLimitExceeded/);
    assert.ok((await o.events("m-jobfail")).some((e) => e.reason === "ProvisionJobFailed"));
  });
});
