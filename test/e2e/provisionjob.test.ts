/**
 * provisionJob: the controller creates the Job and its Secret as k0smotron does; the Job's
 * entrypoint script, run here with the real ssh/scp against a real sshd host on a port other
 * than 22, bootstraps the machine; the RemoteMachine is provisioned only once the Job
 * succeeded, and a failed Job is a condition. A Job or Secret of the same name that the
 * controller did not make is never used. (The test bed has no kubelet, no job controller and no
 * container images: the test runs the script the pod would run and writes the Job's status. The
 * Job object itself is checked against k0smotron's in provisionjob.test.ts.)
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { makeKeyPair } from "../bed/fixtures.js";
import { countLines, createHost, destroyHost, hostExec, type TestHost } from "../bed/hosts.js";
import { canMakeHosts } from "../bed/index.js";
import { scratchDir, waitFor } from "../bed/util.js";
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
    const dir = scratchDir("pjob-");
    await writeFile(join(dir, "id"), key.privateKey, { mode: 0o600 });
    await writeFile(join(dir, "known_hosts"), `${h.knownHostsLine}\n`);
    // The machine's sshd also answers on 2222 (a redirect inside the host's own network
    // namespace, gone with it), so that spec.port is proven to reach ssh and scp.
    await run("ip", [
      "netns",
      "exec",
      `crh-${h.slot}`,
      "iptables",
      "-t",
      "nat",
      "-A",
      "PREROUTING",
      "-p",
      "tcp",
      "--dport",
      "2222",
      "-j",
      "REDIRECT",
      "--to-ports",
      "22",
    ]);
    sshOpts = `-i ${dir}/id -o UserKnownHostsFile=${dir}/known_hosts -o HostKeyAlias=${h.address} -o StrictHostKeyChecking=yes -o BatchMode=yes`;
    await makeCluster(t.bed, t.ns, "c1");
    ctl = new ControllerProcess(t.bed, t.ns, "pjob");
    await ctl.start();
  });
  after(async () => {
    if (process.env.KEEP_CTL_LOG) await writeFile(process.env.KEEP_CTL_LOG, await ctl.log());
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
        port: 2222,
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
    const j = await job("c1-m-job");
    assert.equal(j.metadata.labels.team, "infra");
    assert.equal(j.metadata.ownerReferences[0].kind, "RemoteMachine");
    const c = j.spec.template.spec.containers[0];
    assert.equal(c.image, "teleport:16");
    assert.equal(c.command, undefined, "the image's entrypoint is kept");
    assert.deepEqual(c.args, ["/var/lib/bootstrap-data/k0smotron-entrypoint.sh"]);
    assert.ok(c.volumeMounts.some((m: Any) => m.mountPath === "/var/lib/bootstrap-data"));
    assert.equal(j.spec.template.spec.volumes[0].secret.secretName, "c1-m-job-job-bootstrap-data");
    const rm = await waitFor("ProvisionJobRunning", async () => {
      const x = await o.rm("m-job");
      return o.condition(x, "BootstrapExecSucceeded")?.reason === "ProvisionJobRunning" ? x : undefined;
    });
    assert.notEqual(rm.status?.initialization?.provisioned, true, "not provisioned while the Job runs");

    // Run the entrypoint as the pod would, with the Secret's files where the mount puts them.
    const secret = await t.bed.clients.core.readNamespacedSecret({
      name: "c1-m-job-job-bootstrap-data",
      namespace: t.ns,
    });
    const mount = scratchDir("pjob-mount-");
    for (const k of ["capi-remote-provision.sh", "k0smotron-entrypoint.sh"])
      await writeFile(join(mount, k), Buffer.from(secret.data?.[k] ?? "", "base64"));
    const entry = Buffer.from(secret.data?.["k0smotron-entrypoint.sh"] ?? "", "base64").toString();
    assert.match(entry, / -p 2222 /);
    assert.match(entry, / -P 2222 /);
    const command = entry.replaceAll("/var/lib/bootstrap-data/", `${mount}/`);
    await run("sh", ["-c", command], { timeout: 60_000 });
    // Nothing is left in /tmp on the machine (the runner went through a private directory).
    assert.equal((await hostExec(h, "ls /tmp | grep -c capi-remote-provision || true")).trim(), "0");
    assert.equal(await countLines(h, "/var/log/capi-remote-test-runs", "run"), 1);
    // A retried pod attaches to the finished run instead of running again.
    await run("sh", ["-c", command], { timeout: 60_000 });
    assert.equal(await countLines(h, "/var/log/capi-remote-test-runs", "run"), 1);

    await setJobStatus("c1-m-job", {
      startTime: now(),
      completionTime: now(),
      succeeded: 1,
      conditions: [
        { type: "SuccessCriteriaMet", status: "True", lastTransitionTime: now(), lastProbeTime: now() },
        { type: "Complete", status: "True", lastTransitionTime: now(), lastProbeTime: now() },
      ],
    });
    await o.waitProvisioned("m-job", 30_000);
    assert.equal((await o.rm("m-job")).spec.providerID, `remote-machine://${h.address}:2222`);
  });

  it("a failed Job is a terminal ProvisionJobFailed condition", async () => {
    await makeMachine(
      t.bed,
      t.ns,
      "m-jobfail",
      "c1",
      {
        address: "10.99.0.1",
        provisionJob: {
          sshCommand: "ssh",
          jobSpecTemplate: { spec: { template: { spec: { containers: [{ name: "ssh", image: "ssh" }] } } } },
        },
      },
      testBootstrap(t.bed),
    );
    await job("c1-m-jobfail");
    await setJobStatus("c1-m-jobfail", {
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

  /** The RemoteMachine once its bootstrap condition says ProvisionJobRefused. */
  const refused = (name: string) =>
    waitFor(
      `${name}: ProvisionJobRefused`,
      async () => {
        const x = await o.rm(name);
        return o.condition(x, "BootstrapExecSucceeded")?.reason === "ProvisionJobRefused" ? x : undefined;
      },
      { timeoutMs: 30_000 },
    );

  it("never uses a Job or Secret of its name that it did not make (M10), nor a pod it must not make (H4)", async () => {
    const pj = {
      sshCommand: "ssh",
      jobSpecTemplate: { spec: { template: { spec: { containers: [{ name: "ssh", image: "ssh" }] } } } },
    };
    // A succeeded Job someone else made under the name the controller would use.
    await t.bed.clients.objects.create({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "c1-m-forged", namespace: t.ns },
      spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "x", image: "x" }] } } },
    } as Any);
    await setJobStatus("c1-m-forged", {
      startTime: now(),
      completionTime: now(),
      succeeded: 1,
      conditions: [
        { type: "SuccessCriteriaMet", status: "True", lastTransitionTime: now(), lastProbeTime: now() },
        { type: "Complete", status: "True", lastTransitionTime: now(), lastProbeTime: now() },
      ],
    });
    await makeMachine(t.bed, t.ns, "m-forged", "c1", { address: "10.99.0.2", provisionJob: pj }, testBootstrap(t.bed));
    const forged = await refused("m-forged");
    assert.match(
      o.condition(forged, "BootstrapExecSucceeded")?.message,
      /Job c1-m-forged exists and was not made for this RemoteMachine/,
    );
    assert.notEqual(forged.status?.initialization?.provisioned, true);

    // A Secret someone else made under the name of the Job's Secret: its owner is read (as
    // metadata only), and it is never mounted.
    await t.bed.clients.core.createNamespacedSecret({
      namespace: t.ns,
      body: {
        metadata: { name: "c1-m-planted-job-bootstrap-data" },
        stringData: { "capi-remote-provision.sh": "evil" },
      },
    });
    await makeMachine(t.bed, t.ns, "m-planted", "c1", { address: "10.99.0.4", provisionJob: pj }, testBootstrap(t.bed));
    const planted = await refused("m-planted");
    assert.match(
      o.condition(planted, "BootstrapExecSucceeded")?.message,
      /Secret c1-m-planted-job-bootstrap-data exists and was not made for this RemoteMachine/,
    );
    const plantedJob = await t.bed.clients.objects
      .read({ apiVersion: "batch/v1", kind: "Job", metadata: { name: "c1-m-planted", namespace: t.ns } })
      .catch(() => undefined);
    assert.equal(plantedJob, undefined, "no Job mounts the planted Secret");

    // A foreign ServiceAccount and a hostPath: refused with a condition naming the field.
    await makeMachine(
      t.bed,
      t.ns,
      "m-deputy",
      "c1",
      {
        address: "10.99.0.3",
        provisionJob: {
          jobSpecTemplate: {
            spec: {
              template: {
                spec: { serviceAccountName: "team-a-deployer", containers: [{ name: "ssh", image: "ssh" }] },
              },
            },
          },
        },
      },
      testBootstrap(t.bed),
    );
    const deputy = await refused("m-deputy");
    assert.match(o.condition(deputy, "BootstrapExecSucceeded")?.message, /serviceAccountName.*team-a-deployer/);
    const jobs = await t.bed.clients.objects
      .read({ apiVersion: "batch/v1", kind: "Job", metadata: { name: "c1-m-deputy", namespace: t.ns } })
      .catch(() => undefined);
    assert.equal(jobs, undefined, "no Job was made");
    assert.ok((await o.events("m-deputy")).some((e) => e.reason === "ProvisionJobRefused"));
  });
});
