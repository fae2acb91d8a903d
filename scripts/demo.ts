/**
 * The objects `npm start`'s local environment creates, in one place so that the end-to-end
 * tests provision exactly these (test/e2e/provisioning.test.ts, "npm start's demo").
 */
import type { KeyPair } from "../test/bed/fixtures.js";
import { sshKeySecret } from "../test/bed/fixtures.js";
import type { TestHost } from "../test/bed/hosts.js";
import type { TestBed } from "../test/bed/index.js";
import { apply } from "../test/bed/kube.js";
import { INFRA, makeCluster, makeMachine, testBootstrap } from "../test/e2e/harness.js";

/** The SSH key Secret, a pool of the worker hosts and the template that takes from it. */
export async function createDemoPool(bed: TestBed, ns: string, workerHosts: TestHost[], key: KeyPair): Promise<void> {
  await apply(bed.clients, [
    sshKeySecret(ns, "demo-ssh-key", key),
    // The pool the workers come from: machines known by address.
    ...workerHosts.map((h) => ({
      apiVersion: `${INFRA}/v1beta2`,
      kind: "PooledRemoteMachine",
      metadata: { name: h.name, namespace: ns, labels: { rack: "demo" } },
      spec: { pool: "workers", machine: { address: h.address, user: "root", sshKeyRef: { name: "demo-ssh-key" } } },
    })),
    {
      apiVersion: `${INFRA}/v1beta2`,
      kind: "RemoteMachineTemplate",
      metadata: { name: "demo-workers", namespace: ns },
      spec: { template: { spec: { pool: "workers" } } },
    },
  ] as never);
}

/**
 * Cluster `demo`: a control-plane Machine at `cpHost`'s address and a MachineDeployment of
 * `workers` on the pool. The bootstrap stands in for kubeadm/k0s (no kubelet here): it registers
 * the host as a Node of the demo cluster (the local API server itself), which is what Cluster
 * API waits for.
 */
export async function createDemoCluster(bed: TestBed, ns: string, cpHost: TestHost, workers: number): Promise<void> {
  await makeCluster(bed, ns, "demo");
  await makeMachine(
    bed,
    ns,
    "demo-cp",
    "demo",
    { address: cpHost.address, sshKeyRef: { name: "demo-ssh-key" } },
    testBootstrap(bed),
    { controlPlane: true },
  );
  await apply(bed.clients, [
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "demo-workers-bootstrap", namespace: ns, labels: { "cluster.x-k8s.io/cluster-name": "demo" } },
      type: "cluster.x-k8s.io/secret",
      stringData: { value: testBootstrap(bed) },
    },
    {
      apiVersion: "cluster.x-k8s.io/v1beta2",
      kind: "MachineDeployment",
      metadata: { name: "demo-workers", namespace: ns },
      spec: {
        clusterName: "demo",
        replicas: workers,
        selector: { matchLabels: { "demo/pool": "workers" } },
        template: {
          metadata: { labels: { "demo/pool": "workers" } },
          spec: {
            clusterName: "demo",
            bootstrap: { dataSecretName: "demo-workers-bootstrap" },
            infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachineTemplate", name: "demo-workers" },
          },
        },
      },
    },
  ] as never);
}
