/**
 * Objects for the RemoteMachine reconciler's tests over the in-memory API: a Cluster with its
 * infrastructure provisioned, an SSH key and bootstrap data Secrets, a Machine naming the
 * RemoteMachine back, and the RemoteMachine `ns/rm` owned by it.
 */
import { R } from "../../kube/api.js";
import type { FakeApi } from "../../kube/fake.js";

export const NS = "ns";
export const b64 = (s: string) => Buffer.from(s).toString("base64");

/** Puts the objects; `rm` adds to the RemoteMachine's metadata and spec. */
export function putMachineObjects(
  api: FakeApi,
  rm: { metadata?: Record<string, unknown>; spec?: Record<string, unknown> } = {},
): void {
  api.put(R.clusters, {
    metadata: { name: "c", namespace: NS },
    spec: {},
    status: { initialization: { infrastructureProvisioned: true } },
  });
  api.put(R.secrets, { metadata: { name: "key", namespace: NS }, data: { value: b64("PRIVATE KEY") } });
  api.put(R.secrets, {
    metadata: { name: "data", namespace: NS },
    data: { value: b64("#cloud-config\nruncmd: [echo hi]\n"), format: b64("cloud-config") },
  });
  api.put(R.machines, {
    metadata: { name: "m", namespace: NS, uid: "m-uid" },
    spec: {
      clusterName: "c",
      bootstrap: { dataSecretName: "data" },
      infrastructureRef: { apiGroup: "infrastructure.cluster.x-k8s.io", kind: "RemoteMachine", name: "rm" },
    },
  });
  api.put(R.remoteMachines, {
    apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
    kind: "RemoteMachine",
    metadata: {
      name: "rm",
      namespace: NS,
      uid: "rm-uid",
      generation: 1,
      ownerReferences: [{ apiVersion: "cluster.x-k8s.io/v1beta2", kind: "Machine", name: "m", uid: "m-uid" }],
      ...rm.metadata,
    },
    spec: { address: "10.0.0.1", sshKeyRef: { name: "key" }, ...rm.spec },
  });
}
