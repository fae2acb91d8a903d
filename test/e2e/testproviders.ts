/**
 * A bootstrap provider and a control-plane provider for the test bed, so that a ClusterClass can
 * be exercised end to end with capi-remote as its infrastructure provider. They are test doubles
 * of the *other* providers a ClusterClass names (kubeadm's would run kubeadm and a kubelet on the
 * hosts, which the test hosts do not have); everything else is real: the Cluster API manager's
 * topology, MachineDeployment, MachineSet and Machine controllers, capi-remote, sshd hosts.
 *
 * - `TestBootstrapConfig` (+Template), group bootstrap.testbed.capi-remote.dev: for each config
 *   it writes a bootstrap data Secret holding the test bootstrap (which registers the host's
 *   Node, as a kubelet would) and reports it by the v1beta2 contract.
 * - `TestControlPlane` (+Template), group controlplane.testbed.capi-remote.dev: a control plane
 *   without Machines (like a hosted one: the test bed's API server is the workload cluster). It
 *   writes the Cluster's kubeconfig Secret and reports itself initialized at `spec.version`.
 *
 * Both follow their objects with a short poll of the namespace: plain test code, not product.
 */
import { readFile } from "node:fs/promises";
import type { TestBed } from "../bed/index.js";
import { apply, waitEstablished } from "../bed/kube.js";
import { type Any, RestError, rest, testBootstrap } from "./harness.js";

export const BOOTSTRAP_GROUP = "bootstrap.testbed.capi-remote.dev";
export const CONTROLPLANE_GROUP = "controlplane.testbed.capi-remote.dev";

function crd(group: string, kind: string) {
  const plural = `${kind.toLowerCase()}s`;
  const open = { type: "object", "x-kubernetes-preserve-unknown-fields": true };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${plural}.${group}`,
      // The contract label: Cluster API finds the version of a kind that speaks its contract.
      labels: { "cluster.x-k8s.io/v1beta2": "v1beta1" },
    },
    spec: {
      group,
      scope: "Namespaced",
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase(), categories: ["cluster-api"] },
      versions: [
        {
          name: "v1beta1",
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: "object", properties: { spec: open, status: open } } },
        },
      ],
    },
  };
}

/** Installs the test providers' CRDs (idempotent). */
export async function installTestProviderCrds(bed: TestBed): Promise<void> {
  const crds = [
    crd(BOOTSTRAP_GROUP, "TestBootstrapConfig"),
    crd(BOOTSTRAP_GROUP, "TestBootstrapConfigTemplate"),
    crd(CONTROLPLANE_GROUP, "TestControlPlane"),
    crd(CONTROLPLANE_GROUP, "TestControlPlaneTemplate"),
  ];
  await apply(bed.clients, crds);
  await waitEstablished(
    bed.clients,
    crds.map((c) => c.metadata.name),
  );
}

const clusterOf = (o: Any): string | undefined =>
  o.metadata.labels?.["cluster.x-k8s.io/cluster-name"] ??
  o.metadata.ownerReferences?.find((r: Any) => r.kind === "Cluster")?.name;

/** Runs both providers for one namespace until `stop()`. */
export function startTestProviders(bed: TestBed, ns: string): { stop(): Promise<void> } {
  let stopped = false;
  const base = (group: string, plural: string) => `/apis/${group}/v1beta1/namespaces/${ns}/${plural}`;
  const ignoreExists = (e: unknown) => {
    if (!(e instanceof RestError && e.status === 409)) throw e;
  };

  const pass = async () => {
    for (const c of (await rest(bed, "GET", base(BOOTSTRAP_GROUP, "testbootstrapconfigs"))).items as Any[]) {
      if (c.status?.initialization?.dataSecretCreated) continue;
      const cluster = clusterOf(c);
      if (!cluster) continue;
      await rest(bed, "POST", `/api/v1/namespaces/${ns}/secrets`, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
          name: c.metadata.name,
          labels: { "cluster.x-k8s.io/cluster-name": cluster },
          ownerReferences: [
            { apiVersion: c.apiVersion, kind: c.kind, name: c.metadata.name, uid: c.metadata.uid, controller: true },
          ],
        },
        type: "cluster.x-k8s.io/secret",
        stringData: { value: testBootstrap(bed), format: "cloud-config" },
      }).catch(ignoreExists);
      await rest(
        bed,
        "PATCH",
        `${base(BOOTSTRAP_GROUP, "testbootstrapconfigs")}/${c.metadata.name}/status`,
        { status: { dataSecretName: c.metadata.name, initialization: { dataSecretCreated: true }, ready: true } },
        "application/merge-patch+json",
      );
    }
    for (const cp of (await rest(bed, "GET", base(CONTROLPLANE_GROUP, "testcontrolplanes"))).items as Any[]) {
      const cluster = clusterOf(cp);
      if (!cluster) continue;
      await rest(bed, "POST", `/api/v1/namespaces/${ns}/secrets`, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: `${cluster}-kubeconfig`, labels: { "cluster.x-k8s.io/cluster-name": cluster } },
        type: "cluster.x-k8s.io/secret",
        stringData: { value: await readFile(bed.controlPlane.kubeconfig, "utf8") },
      }).catch(ignoreExists);
      const version = cp.spec?.version;
      const want = {
        initialization: { controlPlaneInitialized: true },
        ...(version ? { version, versions: [{ version }] } : {}),
        // v1beta1 contract fields, read by older readers.
        initialized: true,
        ready: true,
        externalManagedControlPlane: true,
        observedGeneration: cp.metadata.generation,
      };
      if (JSON.stringify({ ...cp.status, ...want }) === JSON.stringify(cp.status ?? {})) continue;
      await rest(
        bed,
        "PATCH",
        `${base(CONTROLPLANE_GROUP, "testcontrolplanes")}/${cp.metadata.name}/status`,
        { status: want },
        "application/merge-patch+json",
      );
    }
  };

  const done = (async () => {
    while (!stopped) {
      await pass().catch((e: unknown) => console.error(`# test providers: ${e instanceof Error ? e.message : e}`));
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}
