/**
 * The real Cluster API manager in the test bed: ready, with its webhooks defaulting and
 * validating, and resolving references to our kinds through the CRDs' contract labels.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { apiGet } from "../bed/controlplane.js";
import { apiErrorMessage } from "../bed/kube.js";
import { waitFor } from "../bed/util.js";
import { GROUP, useBed } from "./helpers.js";

// biome-ignore lint/suspicious/noExplicitAny: the test reads deep into objects of many kinds
type Any = Record<string, any>;

describe("Cluster API core controllers", () => {
  const t = useBed("capi");
  const custom = () => t.bed.clients.custom;
  const capi = (plural: string, version = "v1beta2") => ({
    group: "cluster.x-k8s.io",
    version,
    namespace: t.ns,
    plural,
  });

  it("the manager is ready and its webhooks answer", async () => {
    assert.ok(t.bed.capi, "the bed runs the Cluster API manager");
    const ready = await fetch(`http://127.0.0.1:${t.bed.capi.healthPort}/readyz`);
    assert.equal(ready.status, 200);
    const version = JSON.parse((await apiGet(t.bed.controlPlane, `${t.bed.controlPlane.server}/version`)).body) as Any;
    assert.match(version.gitVersion, /^v1\.\d+\.\d+$/);
  });

  it("a v1beta1 Machine pointing at a RemoteMachine (k0smotron's docs) applies and reads back through v1beta2", async () => {
    const machine = parse(`
apiVersion: cluster.x-k8s.io/v1beta1
kind: Machine
metadata:
  name: remote-test-0
spec:
  clusterName: remote-test
  bootstrap:
    dataSecretName: remote-test-0-bootstrap
  infrastructureRef:
    apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
    kind: RemoteMachine
    name: remote-test-0
`) as Any;
    await custom().createNamespacedCustomObject({ ...capi("machines", "v1beta1"), body: machine });
    const v2 = (await custom().getNamespacedCustomObject({ ...capi("machines"), name: "remote-test-0" })) as Any;
    assert.deepEqual(v2.spec.infrastructureRef, { apiGroup: GROUP, kind: "RemoteMachine", name: "remote-test-0" });
    assert.equal(v2.spec.bootstrap.dataSecretName, "remote-test-0-bootstrap");
    // Defaulted by CAPI's webhook.
    assert.equal(v2.metadata.labels["cluster.x-k8s.io/cluster-name"], "remote-test");
    // Back through v1beta1: CAPI finds our CRD's version through its contract label.
    const v1 = (await custom().getNamespacedCustomObject({
      ...capi("machines", "v1beta1"),
      name: "remote-test-0",
    })) as Any;
    assert.deepEqual(v1.spec.infrastructureRef, {
      apiVersion: `${GROUP}/v1beta2`,
      kind: "RemoteMachine",
      name: "remote-test-0",
      namespace: t.ns,
    });
  });

  it("defaults a MachineDeployment and rejects an invalid one", async () => {
    const md = {
      apiVersion: "cluster.x-k8s.io/v1beta2",
      kind: "MachineDeployment",
      metadata: { name: "md" },
      spec: {
        clusterName: "remote-test",
        template: {
          spec: {
            clusterName: "remote-test",
            bootstrap: { dataSecretName: "x" },
            infrastructureRef: { apiGroup: GROUP, kind: "RemoteMachineTemplate", name: "remote-test-template" },
          },
        },
      },
    };
    const created = (await custom().createNamespacedCustomObject({ ...capi("machinedeployments"), body: md })) as Any;
    assert.equal(created.spec.replicas, 1);
    assert.equal(created.spec.selector.matchLabels["cluster.x-k8s.io/cluster-name"], "remote-test");
    const bad = { ...md, metadata: { name: "md-bad" }, spec: { ...md.spec, clusterName: "other" } };
    const err = await custom()
      .createNamespacedCustomObject({ ...capi("machinedeployments"), body: bad })
      .catch((e: unknown) => e);
    assert.match(apiErrorMessage(err), /clusterName/);
  });

  it("reconciles a Cluster whose infrastructure is a RemoteCluster", async () => {
    await custom().createNamespacedCustomObject({
      group: GROUP,
      version: "v1beta2",
      namespace: t.ns,
      plural: "remoteclusters",
      body: {
        apiVersion: `${GROUP}/v1beta2`,
        kind: "RemoteCluster",
        metadata: { name: "rc" },
        spec: { controlPlaneEndpoint: { host: "10.0.0.10", port: 6443 } },
      },
    });
    await custom().createNamespacedCustomObject({
      ...capi("clusters"),
      body: {
        apiVersion: "cluster.x-k8s.io/v1beta2",
        kind: "Cluster",
        metadata: { name: "rc" },
        spec: { infrastructureRef: { apiGroup: GROUP, kind: "RemoteCluster", name: "rc" } },
      },
    });
    // The Cluster controller takes ownership of the infrastructure object it references.
    await waitFor(
      "Cluster to own its RemoteCluster",
      async () => {
        const rc = (await custom().getNamespacedCustomObject({
          group: GROUP,
          version: "v1beta2",
          namespace: t.ns,
          plural: "remoteclusters",
          name: "rc",
        })) as Any;
        return rc.metadata.ownerReferences?.some((o: Any) => o.kind === "Cluster" && o.name === "rc");
      },
      { timeoutMs: 30_000 },
    );
  });
});
