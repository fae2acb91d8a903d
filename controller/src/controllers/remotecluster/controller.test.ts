import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Cluster, RemoteCluster } from "@capi-remote/shared";
import type { Named } from "../../kube/objects.js";
import { remoteClusterReconciler } from "./controller.js";

type RC = RemoteCluster & Named;

/** A fake API that records status patches and applies them to the in-memory object. */
function harness(rc: RC, cluster?: Cluster & Named) {
  const objs = new Map<string, RC>([[`${rc.metadata.namespace}/${rc.metadata.name}`, rc]]);
  const patches: unknown[] = [];
  const events: string[] = [];
  const api = {
    patch: async (_r: unknown, ns: string, name: string, body: { status: RC["status"] }) => {
      patches.push(body.status);
      const cur = objs.get(`${ns}/${name}`) as RC;
      const next = { ...cur, status: { ...(cur.status ?? {}), ...(body.status ?? {}) } } as RC;
      objs.set(`${ns}/${name}`, next);
      return next;
    },
  };
  const reconcile = remoteClusterReconciler(
    {
      api: api as never,
      now: () => new Date("2026-01-01T00:00:00Z"),
      events: { emit: async (_o: unknown, _t: string, reason: string) => void events.push(reason) } as never,
    },
    { get: (ns, name) => objs.get(`${ns}/${name}`) },
    { get: (_ns, name) => (cluster && cluster.metadata.name === name ? cluster : undefined) },
  );
  return { reconcile, patches, events, objs };
}

const rc = (extra: Partial<RC["metadata"]> = {}, spec: RC["spec"] = {}): RC =>
  ({
    apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
    kind: "RemoteCluster",
    metadata: { name: "c", namespace: "ns", generation: 1, ...extra },
    spec,
  }) as RC;

describe("RemoteCluster reconciler (fake API)", () => {
  it("first pass: one status write, provisioned, one Event; the next pass writes nothing", async () => {
    const h = harness(rc({}, { controlPlaneEndpoint: { host: "10.0.0.1", port: 6443 } }));
    assert.equal(await h.reconcile("ns/c"), undefined);
    assert.equal(h.patches.length, 1);
    assert.deepEqual(h.events, ["Provisioned"]);
    const s = h.objs.get("ns/c")?.status;
    assert.equal(s?.initialization?.provisioned, true);
    assert.equal(s?.conditions?.find((c) => c.type === "ControlPlaneEndpointSet")?.message, "10.0.0.1:6443");
    await h.reconcile("ns/c");
    assert.equal(h.patches.length, 1, "nothing changed, nothing written");
    assert.deepEqual(h.events, ["Provisioned"]);
  });

  it("leaves objects managed by someone else, and deleted ones, alone", async () => {
    const managed = harness(rc({ labels: { "cluster.x-k8s.io/managed-by": "other" } }));
    await managed.reconcile("ns/c");
    const deleting = harness(rc({ deletionTimestamp: "2026-01-01T00:00:00Z" }));
    await deleting.reconcile("ns/c");
    assert.deepEqual([managed.patches.length, deleting.patches.length], [0, 0]);
  });

  it("paused through its Cluster: reports Paused only, not provisioned", async () => {
    const cluster = { metadata: { name: "owner", namespace: "ns" }, spec: { paused: true } } as unknown as Cluster &
      Named;
    const h = harness(
      rc({ ownerReferences: [{ kind: "Cluster", name: "owner", apiVersion: "cluster.x-k8s.io/v1beta2", uid: "u" }] }),
      cluster,
    );
    await h.reconcile("ns/c");
    const s = h.objs.get("ns/c")?.status;
    assert.equal(s?.conditions?.find((c) => c.type === "Paused")?.status, "True");
    assert.equal(s?.initialization?.provisioned, undefined);
    assert.deepEqual(h.events, []);
  });

  it("a gone object is nothing to do", async () => {
    const h = harness(rc());
    assert.equal(await h.reconcile("ns/other"), undefined);
    assert.equal(h.patches.length, 0);
  });
});
