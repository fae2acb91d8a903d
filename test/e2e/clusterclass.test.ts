/**
 * ClusterClass end to end (issue 6): a ClusterClass whose infrastructure is a
 * RemoteClusterTemplate and whose workers are a RemoteMachineTemplate on a pool makes a working
 * Cluster through Cluster API's topology controller (the real manager, `ClusterTopology` gate
 * on), with the test bed's bootstrap and control-plane providers (testproviders.ts). The topology
 * controller server-side-applies every object, dry runs included, so the Cluster reaching
 * `TopologyReconciled` also shows that our templates accept its dry-run requests.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { makeKeyPair, sshKeySecret } from "../bed/fixtures.js";
import { countLines, createHost, destroyHost, type TestHost } from "../bed/hosts.js";
import { canMakeHosts } from "../bed/index.js";
import { waitFor } from "../bed/util.js";
import { useBed } from "../integration/helpers.js";
import { type Any, ControllerProcess, INFRA, objects, rest } from "./harness.js";
import { BOOTSTRAP_GROUP, CONTROLPLANE_GROUP, installTestProviderCrds, startTestProviders } from "./testproviders.js";

const RUNS = "/var/log/capi-remote-test-runs";

describe("ClusterClass", { skip: canMakeHosts() ? false : "test hosts need root" }, () => {
  const t = useBed("cc");
  const hosts: TestHost[] = [];
  let o: ReturnType<typeof objects>;
  let ctl: ControllerProcess;
  let providers: { stop(): Promise<void> } | undefined;

  const cluster = () => rest(t.bed, "GET", `/apis/cluster.x-k8s.io/v1beta2/namespaces/${t.ns}/clusters/cc1`);
  /** Worker Machines of the topology's md-0 that are Running with a Node. */
  const running = async () =>
    (await o.list("machines", "cluster.x-k8s.io")).filter(
      (m) =>
        m.metadata.labels?.["topology.cluster.x-k8s.io/deployment-name"] === "md-0" &&
        m.status?.phase === "Running" &&
        m.status?.nodeRef &&
        !m.metadata.deletionTimestamp,
    );
  const waitRunning = (n: number, timeoutMs = 180_000) =>
    waitFor(
      `${n} topology worker Machines Running with a Node`,
      async () => {
        const r = await running();
        if (r.length === n) return r;
        throw new Error(`${r.length} Running`);
      },
      { timeoutMs, intervalMs: 500 },
    );

  before(async () => {
    o = objects(t.bed, t.ns);
    await installTestProviderCrds(t.bed);
    providers = startTestProviders(t.bed, t.ns);
    const key = await makeKeyPair("ed25519");
    hosts.push(...(await Promise.all(["cc-a", "cc-b", "cc-c"].map((n) => createHost(n, [key.publicKey])))));
    const tmpl = (group: string, kind: string, name: string, spec: Any) => ({
      apiVersion: `${group}/${group === INFRA ? "v1beta2" : "v1beta1"}`,
      kind,
      metadata: { name },
      spec: { template: { spec } },
    });
    await o.apply([
      sshKeySecret(t.ns, "ssh-key", key),
      ...hosts.map((h, i) => ({
        apiVersion: `${INFRA}/v1beta2`,
        kind: "PooledRemoteMachine",
        metadata: { name: `cc-pm-${i}` },
        spec: { pool: "cc-workers", machine: { address: h.address, sshKeyRef: { name: "ssh-key" } } },
      })),
      tmpl(INFRA, "RemoteClusterTemplate", "remote-cc", {
        controlPlaneEndpoint: { host: "198.18.0.1", port: t.bed.controlPlane.port },
      }),
      tmpl(INFRA, "RemoteMachineTemplate", "remote-cc-workers", { pool: "cc-workers" }),
      tmpl(BOOTSTRAP_GROUP, "TestBootstrapConfigTemplate", "remote-cc-workers", {}),
      tmpl(CONTROLPLANE_GROUP, "TestControlPlaneTemplate", "remote-cc", {}),
      {
        apiVersion: "cluster.x-k8s.io/v1beta2",
        kind: "ClusterClass",
        metadata: { name: "remote-cc" },
        spec: {
          infrastructure: {
            templateRef: { apiVersion: `${INFRA}/v1beta2`, kind: "RemoteClusterTemplate", name: "remote-cc" },
          },
          controlPlane: {
            templateRef: {
              apiVersion: `${CONTROLPLANE_GROUP}/v1beta1`,
              kind: "TestControlPlaneTemplate",
              name: "remote-cc",
            },
          },
          workers: {
            machineDeployments: [
              {
                class: "default-worker",
                bootstrap: {
                  templateRef: {
                    apiVersion: `${BOOTSTRAP_GROUP}/v1beta1`,
                    kind: "TestBootstrapConfigTemplate",
                    name: "remote-cc-workers",
                  },
                },
                infrastructure: {
                  templateRef: {
                    apiVersion: `${INFRA}/v1beta2`,
                    kind: "RemoteMachineTemplate",
                    name: "remote-cc-workers",
                  },
                },
              },
            ],
          },
        },
      },
    ]);
    ctl = new ControllerProcess(t.bed, t.ns, "clusterclass");
    await ctl.start();
  });
  after(async () => {
    await providers?.stop();
    await ctl?.stop();
    await Promise.all(hosts.map((h) => destroyHost(h)));
  });

  it("a Cluster from the ClusterClass gets its RemoteCluster and Running workers on pool machines", async () => {
    await o.apply([
      {
        apiVersion: "cluster.x-k8s.io/v1beta2",
        kind: "Cluster",
        metadata: { name: "cc1" },
        spec: {
          topology: {
            classRef: { name: "remote-cc" },
            version: "v1.35.0",
            workers: { machineDeployments: [{ class: "default-worker", name: "md-0", replicas: 2 }] },
          },
        },
      },
    ]);
    const t0 = Date.now();
    const workers = await waitRunning(2);
    console.log(`# 2 topology workers Running ${((Date.now() - t0) / 1000).toFixed(1)} s after the Cluster`);
    // The topology made a RemoteCluster from the template, and it is provisioned.
    const c = await cluster();
    assert.equal(c.spec.infrastructureRef.kind, "RemoteCluster");
    const rc = await o.getInfra("remoteclusters", c.spec.infrastructureRef.name);
    assert.equal(rc.status?.initialization?.provisioned, true);
    assert.equal(rc.metadata.labels?.["topology.cluster.x-k8s.io/owned"], "");
    // The topology controller reconciled (its dry-run applies of our templates were accepted).
    const reconciled = c.status?.conditions?.find((x: Any) => x.type === "TopologyReconciled");
    assert.equal(reconciled?.status, "True", JSON.stringify(reconciled));
    assert.equal(c.status?.initialization?.infrastructureProvisioned, true);
    // Each worker is a RemoteMachine from the class's template, holding a pool machine, run once.
    const rms = await o.list("remotemachines");
    for (const m of workers) {
      assert.equal(m.spec.infrastructureRef.kind, "RemoteMachine");
      assert.equal(m.spec.version, "v1.35.0");
      const rm = rms.find((r) => r.metadata.name === m.spec.infrastructureRef.name);
      assert.ok(rm, `RemoteMachine ${m.spec.infrastructureRef.name}`);
      assert.equal(rm.spec.pool, "cc-workers");
      assert.ok(rm.spec.address, "claimed a pool machine");
      assert.equal(m.spec.providerID, rm.spec.providerID);
    }
    const runs = await Promise.all(hosts.map((h) => countLines(h, RUNS, "run")));
    assert.equal(
      runs.reduce((a, b) => a + b, 0),
      2,
      `bootstraps per host: ${runs.join(", ")}`,
    );
  });

  it("scaling the topology takes the pool's third machine", async () => {
    await o.patchCluster("cc1", {
      spec: {
        topology: {
          classRef: { name: "remote-cc" },
          version: "v1.35.0",
          workers: { machineDeployments: [{ class: "default-worker", name: "md-0", replicas: 3 }] },
        },
      },
    });
    await waitRunning(3);
    assert.deepEqual(await Promise.all(hosts.map((h) => countLines(h, RUNS, "run"))), [1, 1, 1]);
  });

  it("deleting the Cluster cleans up the machines and returns them to the pool", async () => {
    await rest(t.bed, "DELETE", `/apis/cluster.x-k8s.io/v1beta2/namespaces/${t.ns}/clusters/cc1`);
    await waitFor(
      "the Cluster gone and every pool machine Available again",
      async () => {
        const gone = await cluster().then(
          () => false,
          () => true,
        );
        const phases = (await o.list("pooledremotemachines")).map((p) => p.status?.phase);
        if (gone && phases.every((p) => p === "Available")) return true;
        throw new Error(`Cluster gone: ${gone}, pool: ${phases.join(", ")}`);
      },
      { timeoutMs: 180_000, intervalMs: 500 },
    );
    assert.equal((await o.list("remotemachines")).length, 0);
  });
});
