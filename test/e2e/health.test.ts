/**
 * Health after provisioning, end to end (real API server, real Cluster API manager with its
 * MachineHealthCheck and MachineSet controllers, real sshd hosts): a provisioned worker whose
 * link is cut turns HostHealthy False with a reason and an Event, Ready False, which Cluster API
 * mirrors into the Machine's InfrastructureReady; a MachineHealthCheck on that condition has the
 * Machine deleted and the MachineDeployment replaces it on the pool's spare machine. Another
 * machine whose link comes back recovers (HostHealthy and Ready True again). Prints how long
 * from the link cut to HostHealthy False, and to the remediation.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { formatProviderID } from "@capi-remote/shared";
import { makeKeyPair, sshKeySecret } from "../bed/fixtures.js";
import { createHost, destroyHost, setLink, type TestHost } from "../bed/hosts.js";
import { canMakeHosts } from "../bed/index.js";
import { waitFor } from "../bed/util.js";
import { useBed } from "../integration/helpers.js";
import {
  type Any,
  bootstrapSecret,
  ControllerProcess,
  INFRA,
  makeCluster,
  makeMachine,
  objects,
  poolTemplate,
  testBootstrap,
} from "./harness.js";

const INTERVAL_S = 2;
const TIMEOUT_S = 2;
const MHC_TIMEOUT_S = 5;

describe("health after provisioning", { skip: canMakeHosts() ? false : "test hosts need root" }, () => {
  const t = useBed("health");
  let o: ReturnType<typeof objects>;
  let ctl: ControllerProcess;
  const hosts: TestHost[] = [];
  let cp: TestHost;

  const machines = async () =>
    (await o.list("machines", "cluster.x-k8s.io")).filter(
      (m) => m.metadata.labels?.["cluster.x-k8s.io/deployment-name"] === "md",
    );
  const running = async () =>
    (await machines()).filter(
      (m) => m.status?.phase === "Running" && m.status?.nodeRef && !m.metadata.deletionTimestamp,
    );
  const cond = (obj: Any, type: string) => (obj.status?.conditions ?? []).find((c: Any) => c.type === type) as Any;
  const waitCondition = (name: string, type: string, status: string, timeoutMs = 60_000) =>
    waitFor(
      `${name}: ${type}=${status}`,
      async () => {
        const rm = await o.rm(name);
        if (cond(rm, type)?.status === status) return rm;
        throw new Error(
          `conditions now ${JSON.stringify(rm.status?.conditions?.map((c: Any) => [c.type, c.status, c.reason]))}`,
        );
      },
      { timeoutMs, intervalMs: 100 },
    );

  before(async () => {
    o = objects(t.bed, t.ns);
    const key = await makeKeyPair("ed25519");
    const made = await Promise.all(
      ["health-a", "health-b", "health-c", "health-cp"].map((n) => createHost(n, [key.publicKey])),
    );
    cp = made.pop() as TestHost;
    hosts.push(...made);
    await o.apply([
      sshKeySecret(t.ns, "ssh-key", key),
      bootstrapSecret("md-bootstrap", "c1", testBootstrap(t.bed)),
      ...hosts.map((h, i) => ({
        apiVersion: `${INFRA}/v1beta2`,
        kind: "PooledRemoteMachine",
        metadata: { name: `pm-${i}` },
        spec: { pool: "workers", machine: { address: h.address, sshKeyRef: { name: "ssh-key" } } },
      })),
      poolTemplate("workers"),
    ]);
    await makeCluster(t.bed, t.ns, "c1");
    // A control plane machine (not selected by the health check): Cluster API judges workers'
    // health only once the control plane is initialized.
    await makeMachine(
      t.bed,
      t.ns,
      "cp-0",
      "c1",
      { address: cp.address, sshKeyRef: { name: "ssh-key" } },
      testBootstrap(t.bed),
      { controlPlane: true },
    );
    ctl = new ControllerProcess(t.bed, t.ns, "health", [
      `--health-check-interval=${INTERVAL_S}`,
      `--health-check-timeout=${TIMEOUT_S}`,
    ]);
    await ctl.start();
  });
  after(async () => {
    await ctl?.stop();
    await Promise.all([...hosts, ...(cp ? [cp] : [])].map((h) => destroyHost(h)));
  });

  it("a worker whose link is cut goes HostHealthy False with an Event, and a MachineHealthCheck replaces it", async () => {
    await o.apply([
      {
        apiVersion: "cluster.x-k8s.io/v1beta2",
        kind: "MachineHealthCheck",
        metadata: { name: "workers" },
        spec: {
          clusterName: "c1",
          selector: { matchLabels: { pool: "workers" } },
          checks: {
            unhealthyMachineConditions: [
              { type: "InfrastructureReady", status: "False", timeoutSeconds: MHC_TIMEOUT_S },
            ],
          },
        },
      },
      {
        apiVersion: "cluster.x-k8s.io/v1beta2",
        kind: "MachineDeployment",
        metadata: { name: "md" },
        spec: {
          clusterName: "c1",
          replicas: 2,
          selector: { matchLabels: { pool: "workers" } },
          template: {
            metadata: { labels: { pool: "workers" } },
            spec: {
              clusterName: "c1",
              bootstrap: { dataSecretName: "md-bootstrap" },
              infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachineTemplate", name: "workers" },
            },
          },
        },
      },
    ]);
    const up = await waitFor(
      "2 Running workers",
      async () => {
        const r = await running();
        if (r.length === 2) return r;
        throw new Error(`${r.length} running`);
      },
      { timeoutMs: 240_000, intervalMs: 500 },
    );
    const victim = up[0] as Any;
    const rmName = victim.spec.infrastructureRef.name as string;
    let rm = await o.rm(rmName);
    assert.equal(cond(rm, "HostHealthy")?.status, "True", "a machine bootstrapped just now is healthy");
    assert.equal(cond(rm, "HostHealthy")?.reason, "HostResponding");
    const host = hosts.find((h) => h.address === rm.spec.address);
    assert.ok(host, `the victim's host (${rm.spec.address}) is one of the pool's`);
    // Probes keep succeeding while the link is up: no change, nothing written.
    const rv = rm.metadata.resourceVersion;
    await new Promise((r) => setTimeout(r, 3 * INTERVAL_S * 1000));
    rm = await o.rm(rmName);
    assert.equal(rm.metadata.resourceVersion, rv, "healthy probes write nothing");

    const cut = Date.now();
    await setLink(host, false);
    rm = await waitCondition(rmName, "HostHealthy", "False");
    const toFalse = (Date.now() - cut) / 1000;
    const hh = cond(rm, "HostHealthy");
    assert.equal(hh.reason, "HostNotResponding");
    assert.match(hh.message, /no healthy answer since/);
    assert.equal(cond(rm, "Ready").status, "False");
    assert.equal(cond(rm, "Ready").reason, "HostNotResponding");
    assert.equal(rm.status.initialization.provisioned, true, "still provisioned: only its health changed");
    await waitFor(
      "a HostNotResponding Warning Event",
      async () => (await o.events(rmName)).some((e) => e.reason === "HostNotResponding" && e.type === "Warning"),
      { timeoutMs: 10_000 },
    );
    const mirrored = await waitFor(
      "the Machine's InfrastructureReady False",
      async () => {
        const m = await o.machine(victim.metadata.name);
        const c = cond(m, "InfrastructureReady");
        if (c?.status === "False") return c;
        throw new Error(JSON.stringify(c));
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.equal(mirrored.reason, "HostNotResponding", "Cluster API mirrors our Ready into InfrastructureReady");
    await waitFor(
      "the MachineHealthCheck has the Machine deleted",
      async () => {
        const m = await o.machineOrUndefined(victim.metadata.name);
        if (!m || m.metadata.deletionTimestamp) return true;
        throw new Error(`HealthCheckSucceeded ${JSON.stringify(cond(m, "HealthCheckSucceeded"))}`);
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    const toRemediation = (Date.now() - cut) / 1000;
    console.log(
      `# health: link cut -> HostHealthy False ${toFalse.toFixed(1)} s (interval ${INTERVAL_S} s, timeout ${TIMEOUT_S} s, one confirming probe); -> Machine deleted by the MachineHealthCheck ${toRemediation.toFixed(1)} s (its timeout ${MHC_TIMEOUT_S} s)`,
    );
    // The MachineDeployment replaces it on the pool's spare machine.
    const after2 = await waitFor(
      "2 Running workers again, without the victim",
      async () => {
        const r = await running();
        if (r.length === 2 && r.every((m) => m.metadata.name !== victim.metadata.name)) return r;
        throw new Error(`${r.map((m) => m.metadata.name).join(",")} running`);
      },
      { timeoutMs: 180_000, intervalMs: 500 },
    );
    assert.equal(after2.length, 2);
  });

  it("the harness deletes the Nodes of a host it destroys (its address is reused by the next host)", async () => {
    const h = await createHost("health-gone", []);
    const name = `gone-${t.ns}`;
    await t.bed.clients.core.createNode({
      body: { metadata: { name }, spec: { providerID: formatProviderID(h.address, 22) } },
    });
    await destroyHost(h);
    const left = await t.bed.clients.core.readNode({ name }).catch(() => undefined);
    assert.equal(left, undefined, "the Node with the destroyed host's provider ID is gone");
  });

  it("a machine whose link comes back recovers: HostHealthy and Ready True again, with a Normal Event", async () => {
    await o.waitProvisioned("cp-0", 120_000);
    await waitCondition("cp-0", "HostHealthy", "True");
    const cut = Date.now();
    await setLink(cp, false);
    let rm = await waitCondition("cp-0", "HostHealthy", "False");
    console.log(`# health: link cut -> HostHealthy False ${((Date.now() - cut) / 1000).toFixed(1)} s (second machine)`);
    assert.equal(cond(rm, "Ready").status, "False");
    const restored = Date.now();
    await setLink(cp, true);
    rm = await waitCondition("cp-0", "HostHealthy", "True");
    console.log(`# health: link restored -> HostHealthy True ${((Date.now() - restored) / 1000).toFixed(1)} s`);
    assert.equal(cond(rm, "HostHealthy").reason, "HostResponding");
    assert.equal(cond(rm, "Ready").status, "True");
    assert.equal(cond(rm, "Ready").reason, "Provisioned");
    await waitFor(
      "a HostResponding Normal Event",
      async () => (await o.events("cp-0")).some((e) => e.reason === "HostResponding" && e.type === "Normal"),
      { timeoutMs: 10_000 },
    );
    const m = await waitFor(
      "cp-0's InfrastructureReady True again",
      async () => {
        const x = await o.machine("cp-0");
        if (cond(x, "InfrastructureReady")?.status === "True") return x;
        throw new Error(JSON.stringify(cond(x, "InfrastructureReady")));
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.ok(!m.metadata.deletionTimestamp, "not selected by the health check: never remediated");
  });
});
