/**
 * From a Cluster API Machine to a joined node over SSH, against the real API server, the real
 * Cluster API manager and real sshd hosts: as root and as a sudo user, every cloud-init feature,
 * exactly one run, status for both contracts, and cleanup on delete.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createDemoCluster, createDemoPool } from "../../scripts/demo.js";
import { makeKeyPair, sshKeySecret } from "../bed/fixtures.js";
import { countLines, createHost, destroyHost, hostExec, readHostFile, type TestHost } from "../bed/hosts.js";
import { canMakeHosts } from "../bed/index.js";
import { waitFor } from "../bed/util.js";
import { useBed } from "../integration/helpers.js";
import { type Any, ControllerProcess, makeCluster, makeMachine, objects, testBootstrap } from "./harness.js";
import { RemoteMachineObserver, warningEvents } from "./observe.js";

const RUNS = "/var/log/capi-remote-test-runs";

describe("RemoteMachine provisioning", { skip: canMakeHosts() ? false : "test hosts need root" }, () => {
  const t = useBed("prov");
  let ctl: ControllerProcess;
  const hosts: Record<string, TestHost> = {};
  let o: ReturnType<typeof objects>;
  let watch: RemoteMachineObserver;

  before(async () => {
    o = objects(t.bed, t.ns);
    const key = await makeKeyPair("ed25519");
    const encrypted = await makeKeyPair("ed25519-encrypted");
    const rsa = await makeKeyPair("rsa-pem");
    const keys = [key.publicKey, encrypted.publicKey, rsa.publicKey];
    const made = await Promise.all(
      ["prov-root", "prov-sudo", "prov-files", "prov-warm"].map((n) => createHost(n, keys)),
    );
    for (const h of made) hosts[h.name] = h;
    await o.apply([
      sshKeySecret(t.ns, "ssh-key", key),
      // An encrypted OpenSSH key with its passphrase in the Secret, and an RSA key in PEM format.
      sshKeySecret(t.ns, "encrypted-key", encrypted),
      sshKeySecret(t.ns, "rsa-key", rsa),
    ]);
    await makeCluster(t.bed, t.ns, "c1");
    watch = new RemoteMachineObserver(t.bed, t.ns);
    await watch.start();
    ctl = new ControllerProcess(t.bed, t.ns, "prov");
    await ctl.start();
  });
  after(async () => {
    watch?.stop();
    await ctl?.stop();
    await Promise.all(Object.values(hosts).map((h) => destroyHost(h)));
    // The Nodes the hosts registered go with them: a later host at a reused address must not
    // find a second Node with its provider ID.
    await Promise.all(Object.keys(hosts).map((name) => t.bed.clients.core.deleteNode({ name }).catch(() => undefined)));
  });

  // Generous: with three suites sharing 2 cores, Cluster API's node lookup can lag behind.
  const running = (name: string, timeoutMs = 180_000) =>
    waitFor(
      `Machine ${name} Running`,
      async () => {
        const m = await o.machine(name);
        if (m.status?.phase === "Running" && m.status?.nodeRef) return m;
        const rm = await o.rm(name);
        throw new Error(
          `Machine phase ${m.status?.phase}, conditions ${JSON.stringify(m.status?.conditions?.filter((c: Any) => c.status !== "True").map((c: Any) => [c.type, c.reason, c.message]))}; RemoteMachine conditions ${JSON.stringify(rm.status?.conditions?.map((c: Any) => [c.type, c.status, c.reason, c.message]))}`,
        );
      },
      { timeoutMs, intervalMs: 250 },
    );

  /**
   * A healthy provisioning raises no alarm: no Warning Event, and no version of the object ever
   * carried a failure reason (the watch saw each one), on the path the log says was taken.
   */
  const noFalseAlarm = async (name: string, path: "cold" | "warm") => {
    assert.ok(watch.versions(name) > 1, `the watch saw ${name}'s versions`);
    assert.deepEqual(watch.alarms(name), [], `${name}: no failure reason on any version`);
    assert.deepEqual(await warningEvents(t.bed, t.ns, name), [], `${name}: no Warning Event`);
    const starts = (await ctl.log())
      .split("\n")
      .filter((l) => l.includes('"starting the bootstrap task"') && l.includes(`${t.ns}/${name}"`));
    assert.equal(starts.length, 1, `one start of ${name}'s bootstrap task: ${starts.join("\n")}`);
    assert.ok(starts[0]?.includes(`"warmConnection":${path === "warm"}`), `the ${path} path: ${starts[0]}`);
  };

  it("provisions as root: Machine Running with a nodeRef, both contracts' status, one run", async () => {
    const h = hosts["prov-root"]!;
    await makeMachine(
      t.bed,
      t.ns,
      "m-root",
      "c1",
      { address: h.address, sshKeyRef: { name: "ssh-key" } },
      testBootstrap(t.bed),
      // The cluster's first control-plane Machine: Cluster API reads the Nodes of the other
      // Machines only once the control plane is initialized (a control-plane Machine has a Node).
      { controlPlane: true },
    );
    const m = await running("m-root");
    const rm = await o.rm("m-root");
    assert.equal(rm.spec.providerID, `remote-machine://${h.address}:22`);
    assert.equal(m.spec.providerID, rm.spec.providerID);
    assert.equal(m.status.nodeRef.name, "prov-root");
    assert.equal(rm.status.ready, true);
    assert.equal(rm.status.initialization.provisioned, true);
    assert.deepEqual(rm.status.addresses, [
      { type: "ExternalIP", address: h.address },
      { type: "Hostname", address: "prov-root" },
    ]);
    assert.equal(o.condition(rm, "Ready")?.status, "True");
    assert.equal(o.condition(rm, "BootstrapExecSucceeded")?.status, "True");
    assert.equal(o.condition(rm, "Paused")?.status, "False");
    assert.equal(rm.status.hostKey.source, "FirstUse");
    assert.equal(rm.metadata.annotations["remote.infrastructure.cluster.x-k8s.io/host-key"], h.hostPublicKey);
    assert.equal(rm.status.bootstrap.phase, "Succeeded");
    assert.equal(await countLines(h, RUNS, "run"), 1);
    const reasons = (await o.events("m-root")).map((e) => e.reason);
    assert.ok(reasons.includes("BootstrapSucceeded"), `events: ${reasons}`);
    // Address and bootstrap data were known at once: the cold path, without a false alarm.
    await noFalseAlarm("m-root", "cold");
  });

  it("provisions as a sudo user", async () => {
    const h = hosts["prov-sudo"]!;
    await makeMachine(
      t.bed,
      t.ns,
      "m-sudo",
      "c1",
      {
        address: h.address,
        user: "capi",
        useSudo: true,
        sshKeyRef: { name: "encrypted-key" },
        cleanUpCommands: ["echo cleaned-by-custom-command > /root/cleaned"],
      },
      testBootstrap(t.bed, { extra: "  - id -un > /root/whoami\n" }),
    );
    await running("m-sudo");
    assert.equal(await readHostFile(h, "/root/whoami"), "root\n");
    assert.equal(await countLines(h, RUNS, "run"), 1);
    await noFalseAlarm("m-sudo", "cold");
  });

  it("the warm path: data arriving after the connection waits provisions without a false alarm either", async () => {
    const h = hosts["prov-warm"]!;
    await o.apply([
      {
        apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
        kind: "RemoteMachine",
        metadata: { name: "m-warm" },
        spec: { address: h.address, sshKeyRef: { name: "ssh-key" } },
      },
      {
        apiVersion: "cluster.x-k8s.io/v1beta2",
        kind: "Machine",
        metadata: { name: "m-warm" },
        spec: {
          clusterName: "c1",
          bootstrap: { dataSecretName: "m-warm-bootstrap" },
          infrastructureRef: { apiGroup: "infrastructure.cluster.x-k8s.io", kind: "RemoteMachine", name: "m-warm" },
        },
      },
    ]);
    // The warm connection's standby made the run's state directory on the machine: it waits.
    await waitFor(
      "m-warm's connection waiting on the machine",
      async () => (await hostExec(h, `test -d /var/lib/capi-remote/${t.ns}.m-warm && echo yes`)).trim() === "yes",
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    await o.apply([
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "m-warm-bootstrap", labels: { "cluster.x-k8s.io/cluster-name": "c1" } },
        type: "cluster.x-k8s.io/secret",
        stringData: { value: testBootstrap(t.bed) },
      },
    ]);
    await running("m-warm");
    assert.equal(await countLines(h, RUNS, "run"), 1);
    await noFalseAlarm("m-warm", "warm");
  });

  it("carries out every cloud-init feature on the host, in cloud-init's order", async () => {
    const h = hosts["prov-files"]!;
    const data = `#cloud-config
bootcmd:
  - echo bootcmd >> /var/log/order
write_files:
  - path: /etc/app/plain.conf
    content: "plain\\n"
    permissions: "0600"
  - path: /etc/app/b64
    encoding: b64
    content: ${Buffer.from("base64 text\n").toString("base64")}
  - path: /etc/app/gz
    encoding: gz+b64
    content: ${(await import("node:zlib")).gzipSync("gzipped\n").toString("base64")}
  - path: /home/capi/owned
    content: mine
    owner: capi:capi
    permissions: "0640"
  - path: /etc/app/plain.conf
    content: "appended\\n"
    append: true
    permissions: "0600"
  - path: /etc/app/deferred
    content: late
    defer: true
runcmd:
  - echo runcmd-shell >> /var/log/order
  - [sh, -c, "echo runcmd-argv >> /var/log/order; test -f /etc/app/deferred && echo deferred-before-runcmd >> /var/log/order"]
  - echo "run $(date +%s%N)" >> ${RUNS}
  - mkdir -p /run/cluster-api && touch /run/cluster-api/bootstrap-success.complete
`;
    await makeMachine(t.bed, t.ns, "m-files", "c1", { address: h.address, sshKeyRef: { name: "rsa-key" } }, data);
    await o.waitProvisioned("m-files");
    assert.equal(await readHostFile(h, "/etc/app/plain.conf"), "plain\nappended\n");
    assert.equal(await readHostFile(h, "/etc/app/b64"), "base64 text\n");
    assert.equal(await readHostFile(h, "/etc/app/gz"), "gzipped\n");
    assert.equal(await readHostFile(h, "/etc/app/deferred"), "late");
    assert.equal(
      (await hostExec(h, "stat -c '%a %U:%G' /etc/app/plain.conf /home/capi/owned")).trim(),
      "600 root:root\n640 capi:capi",
    );
    assert.equal(
      await readHostFile(h, "/var/log/order"),
      "bootcmd\nruncmd-shell\nruncmd-argv\ndeferred-before-runcmd\n",
    );
    // The working dir is k0smotron's default, created on the machine.
    assert.equal((await hostExec(h, "test -d /etc/k0smotron && echo yes")).trim(), "yes");
  });

  it("runs a machine's own cleanUpCommands on delete (through sudo)", async () => {
    const h = hosts["prov-sudo"]!;
    await o.deleteMachine("m-sudo");
    await waitFor("Machine m-sudo gone", async () => (await o.machineOrUndefined("m-sudo")) === undefined, {
      timeoutMs: 60_000,
    });
    assert.equal(await readHostFile(h, "/root/cleaned"), "cleaned-by-custom-command\n");
    assert.equal(await o.rmOrUndefined("m-sudo"), undefined);
  });

  it("cleans up on delete: cleanup ran on the host, finalizer and Machine gone", async () => {
    const h = hosts["prov-root"]!;
    const rm = await o.rm("m-root");
    assert.ok(rm.metadata.finalizers.includes("remotemachine.infrastructure.cluster.x-k8s.io"));
    await o.deleteMachine("m-root");
    await waitFor("Machine m-root gone", async () => (await o.machineOrUndefined("m-root")) === undefined, {
      timeoutMs: 60_000,
    });
    assert.equal(await o.rmOrUndefined("m-root"), undefined);
    // Default cleanup for a machine without a known bootstrap provider: the sentinel and our state go.
    assert.equal(await readHostFile(h, "/run/cluster-api/bootstrap-success.complete"), undefined);
    assert.equal((await hostExec(h, "ls /var/lib/capi-remote")).trim(), "");
    const reasons = (await o.allEvents()).filter((e) => e.involvedObject.name === "m-root").map((e) => e.reason);
    assert.ok(reasons.includes("CleanupSucceeded"), `events: ${reasons}`);
  });

  it("a RemoteMachine waiting for its bootstrap data has no finalizer yet, goes at once when its Machine is deleted, and nothing ran", async () => {
    const h = hosts["prov-files"]!;
    const runsBefore = await countLines(h, RUNS, "run");
    await o.apply([
      {
        apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
        kind: "RemoteMachine",
        metadata: { name: "m-wait" },
        spec: { address: h.address, sshKeyRef: { name: "ssh-key" } },
      },
      {
        apiVersion: "cluster.x-k8s.io/v1beta2",
        kind: "Machine",
        metadata: { name: "m-wait" },
        spec: {
          clusterName: "c1",
          bootstrap: { dataSecretName: "m-wait-never-made" },
          infrastructureRef: { apiGroup: "infrastructure.cluster.x-k8s.io", kind: "RemoteMachine", name: "m-wait" },
        },
      },
    ]);
    const waiting = await waitFor(
      "m-wait waiting for its bootstrap data",
      async () => {
        const rm = await o.rm("m-wait");
        return rm.status?.conditions?.some((c: Any) => c.type === "Ready" && c.reason === "BootstrapSecretNotFound")
          ? rm
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    assert.equal(waiting.metadata.finalizers, undefined, "no finalizer before anything happened on a machine");
    await o.deleteMachine("m-wait");
    await waitFor(
      "m-wait gone",
      async () =>
        (await o.rmOrUndefined("m-wait")) === undefined && (await o.machineOrUndefined("m-wait")) === undefined,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.equal(await countLines(h, RUNS, "run"), runsBefore, "nothing ran on the machine");
    assert.equal(await readHostFile(h, `/var/lib/capi-remote/${t.ns}.m-wait/started`), undefined);
  });
});

export type { Any };

describe("npm start's demo", { skip: canMakeHosts() ? false : "test hosts need root" }, () => {
  const t = useBed("demo");
  let ctl: ControllerProcess;
  const hosts: TestHost[] = [];
  let watch: RemoteMachineObserver;

  before(async () => {
    const key = await makeKeyPair("ed25519", "demo");
    // Host names are Node names (cluster-wide): the demo's own, prefixed for this suite.
    hosts.push(...(await Promise.all(["pdemo-cp", "pdemo-w1", "pdemo-w2"].map((n) => createHost(n, [key.publicKey])))));
    watch = new RemoteMachineObserver(t.bed, t.ns);
    await watch.start();
    await createDemoPool(t.bed, t.ns, hosts.slice(1), key);
    ctl = new ControllerProcess(t.bed, t.ns, "demo");
    await ctl.start();
  });
  after(async () => {
    watch?.stop();
    await ctl?.stop();
    await Promise.all(hosts.map((h) => destroyHost(h)));
    await Promise.all(hosts.map((h) => t.bed.clients.core.deleteNode({ name: h.name }).catch(() => undefined)));
  });

  it("its three Machines go Running with no Warning Event and no failure reason on the way", async () => {
    const o = objects(t.bed, t.ns);
    await createDemoCluster(t.bed, t.ns, hosts[0]!, 2);
    const machines = await waitFor(
      "the demo's three Machines Running",
      async () => {
        const ms = await o.list("machines", "cluster.x-k8s.io");
        const running = ms.filter((m) => m.status?.phase === "Running" && m.status?.nodeRef);
        if (ms.length === 3 && running.length === 3) return ms;
        throw new Error(`${ms.map((m) => `${m.metadata.name}: ${m.status?.phase}`).join(", ")}`);
      },
      { timeoutMs: 180_000, intervalMs: 500 },
    );
    const rms = machines.map((m) => m.spec.infrastructureRef.name as string);
    for (const name of rms) {
      assert.ok(watch.versions(name) > 1, `the watch saw ${name}'s versions`);
      assert.deepEqual(watch.alarms(name), [], `${name}: no failure reason on any version`);
    }
    const warnings = (await o.allEvents())
      .filter((e) => e.type === "Warning")
      .map((e) => `${e.involvedObject.kind} ${e.involvedObject.name}: ${e.reason}: ${e.message}`);
    assert.deepEqual(warnings, [], "no Warning Event in the demo's namespace");
    for (const h of hosts) assert.equal(await countLines(h, RUNS, "run"), 1, `${h.name} bootstrapped once`);
  });
});
