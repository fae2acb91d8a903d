import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Indexed } from "../../runtime/store.js";
import { IndexedStore } from "../../runtime/store.js";
import {
  addRemoteMachineIndexes,
  clusterToRemoteMachines,
  nodeToRemoteMachines,
  poolToWaitingRemoteMachines,
  type RemoteMachineWatchInformers,
  secretToRemoteMachines,
} from "./watches.js";

type Obj = { metadata: { name: string; namespace?: string } };

/** A cache with indexes and no API server: what an Informer offers the mappers. */
function cache<T extends Obj>(objs: T[]): Indexed<T> & { put(o: T): void } {
  const s = new IndexedStore<T>();
  const key = (o: T) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
  for (const o of objs) s.set(key(o), o);
  const c = {
    addIndex: (n: string, fn: (o: T) => readonly string[]) => {
      s.addIndex(n, fn);
      return c;
    },
    byIndex: (n: string, v: string) => s.byIndex(n, v),
    get: (ns: string | undefined, name: string) => s.get(`${ns ?? ""}/${name}`),
    put: (o: T) => s.set(key(o), o),
  };
  return c;
}

const machine = (name: string, cluster: string, extra: Record<string, unknown> = {}) => ({
  metadata: { name, namespace: "ns" },
  spec: {
    clusterName: cluster,
    infrastructureRef: { kind: "RemoteMachine", apiGroup: "infrastructure.cluster.x-k8s.io", name: `rm-${name}` },
    ...extra,
  },
});
const rm = (
  name: string,
  owner: string | undefined,
  spec: Record<string, unknown> = {},
  rest: Record<string, unknown> = {},
) => ({
  metadata: {
    name,
    namespace: "ns",
    ...(owner
      ? { ownerReferences: [{ kind: "Machine", name: owner, apiVersion: "cluster.x-k8s.io/v1beta2", uid: "u" }] }
      : {}),
  },
  spec: { address: "10.0.0.1", sshKeyRef: { name: "key" }, ...spec },
  ...rest,
});

function informers() {
  const inf = {
    machines: cache([
      machine("m1", "c1", { bootstrap: { dataSecretName: "m1-data" } }),
      machine("m2", "c1"),
      machine("m3", "c2"),
    ]),
    remoteMachines: cache([
      rm("rm-m1", "m1"),
      rm("rm-m2", "m2", { sshKeyRef: { name: "other-key" }, hostKeysSecretRef: { name: "hk" } }),
      rm("rm-m3", "m3", {}, { status: { initialization: { provisioned: true } } }),
      rm("waiting", undefined, { pool: "p" }),
      rm("claimed", undefined, { pool: "p" }),
    ]),
  } as unknown as RemoteMachineWatchInformers;
  addRemoteMachineIndexes(inf);
  return inf;
}

describe("RemoteMachine watches (from indexes)", () => {
  it("secretToRemoteMachines: the machines using it as SSH key, host keys, bootstrap data or kubeconfig", () => {
    const inf = informers();
    const s = (name: string) => secretToRemoteMachines(inf, { metadata: { name, namespace: "ns" } }).sort();
    assert.deepEqual(s("key"), ["ns/claimed", "ns/rm-m1", "ns/rm-m3", "ns/waiting"]);
    assert.deepEqual(s("hk"), ["ns/rm-m2"]);
    assert.deepEqual(s("m1-data"), ["ns/rm-m1"]);
    assert.deepEqual(s("c1-kubeconfig"), ["ns/rm-m1", "ns/rm-m2"]);
    assert.deepEqual(s("unrelated"), []);
    // Same name in another namespace: nothing.
    assert.deepEqual(secretToRemoteMachines(inf, { metadata: { name: "key", namespace: "other" } }), []);
  });

  it("clusterToRemoteMachines: through the owner Machines of the cluster only", () => {
    const inf = informers();
    const names = clusterToRemoteMachines(inf, "ns", "c1")
      .map((r) => r.metadata.name)
      .sort();
    assert.deepEqual(names, ["rm-m1", "rm-m2"]);
  });

  it("follows updates: a RemoteMachine given a new key leaves the old key's answer", () => {
    const inf = informers();
    (inf.remoteMachines as unknown as { put(o: unknown): void }).put(
      rm("rm-m1", "m1", { sshKeyRef: { name: "rotated" } }),
    );
    const s = (name: string) => secretToRemoteMachines(inf, { metadata: { name, namespace: "ns" } });
    assert.ok(!s("key").includes("ns/rm-m1"));
    assert.ok(s("rotated").includes("ns/rm-m1"));
  });

  it("nodeToRemoteMachines: only provisioned machines of that cluster", () => {
    const inf = informers();
    assert.deepEqual(nodeToRemoteMachines(inf, "ns/c2", undefined), ["ns/rm-m3"]);
    assert.deepEqual(nodeToRemoteMachines(inf, "ns/c1", undefined), []);
  });

  it("poolToWaitingRemoteMachines: those of the pool without a pool machine named yet", () => {
    const inf = informers();
    (inf.remoteMachines as unknown as { put(o: unknown): void }).put({
      ...rm("claimed", undefined, { pool: "p" }),
      metadata: {
        name: "claimed",
        namespace: "ns",
        annotations: { "remote.infrastructure.cluster.x-k8s.io/pool-machine": "x" },
      },
    });
    assert.deepEqual(
      poolToWaitingRemoteMachines(inf, "ns", "p").map((r) => r.metadata.name),
      ["waiting"],
    );
  });
});
