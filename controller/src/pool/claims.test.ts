/**
 * Pool claims while the informer cache lags the API server (kube/fake.ts `lag()`): the claims
 * and releases written here are the pool machines' read-your-own-writes overlay (runtime/
 * fresh.ts), so nothing is decided from the older cached copy: a claimant finds its machine, no
 * one else tries it, and nobody's write is refused for a stale version.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { claimantName } from "@capi-remote/shared";
import { R } from "../kube/api.js";
import { FakeApi } from "../kube/fake.js";
import { PoolClaims } from "./claims.js";

const NS = "ns";
const log = { debug() {}, info() {}, warn() {}, error() {}, with: () => log };

function pool(n: number) {
  const api = new FakeApi();
  for (let i = 1; i <= n; i++)
    api.put(R.pooledRemoteMachines, {
      apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
      kind: "PooledRemoteMachine",
      metadata: { name: `pm-${i}`, namespace: NS, uid: `pm-${i}-uid` },
      spec: { pool: "p", machine: { address: `10.0.0.${i}`, sshKeyRef: { name: "key" } } },
    });
  const inf = api.informer(R.pooledRemoteMachines);
  const claims = new PoolClaims(api as never, inf as never, log as never);
  return { api, inf, claims };
}

const rm = (name: string) =>
  ({
    apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
    kind: "RemoteMachine",
    metadata: {
      name,
      namespace: NS,
      uid: `${name}-uid`,
      annotations: {} as Record<string, string>,
    },
    spec: { pool: "p" },
  }) as never;

describe("pool claims over a lagging cache (one overlay)", () => {
  it("a claim the cache does not show yet: its claimant holds it, nobody else tries it, then the cache takes over", async () => {
    const { api, inf, claims } = pool(2);
    api.lag();
    const won = await claims.claim(rm("a"), "p", undefined);
    assert.ok(won);
    const name = won.metadata.name;
    assert.equal(claimantName(inf.get(NS, name) as never), undefined, "the cache does not show the claim yet");
    assert.deepEqual(
      claims.claimedByName(NS, "a").map((p) => p.metadata.name),
      [name],
      "its claimant finds it (a second claim for it would follow otherwise)",
    );
    const other = await claims.claim(rm("b"), "p", undefined);
    assert.ok(other && other.metadata.name !== name, "the other machine goes to the next claimant");
    assert.equal(await claims.claim(rm("c"), "p", undefined), undefined, "and none is left for a third");
    assert.equal(api.conflicts, 0, "no write was tried from the stale cached copy");
    api.catchUp();
    assert.equal(claims.written.peek(`${NS}/${name}`), undefined, "the overlay steps aside once the cache shows it");
    assert.deepEqual(
      claims.claimedByName(NS, "a").map((p) => p.metadata.name),
      [name],
      "now answered from the cache's index",
    );
  });

  it("a release the cache does not show yet: the machine is free at once for the next claim", async () => {
    const { api, claims } = pool(1);
    const held = await claims.claim(rm("a"), "p", undefined);
    assert.ok(held);
    api.lag();
    assert.equal(await claims.release(held, rm("a")), true);
    assert.equal(claims.heldBy(rm("a")), undefined, "its former claimant no longer holds it");
    const next = await claims.claim(rm("b"), "p", undefined);
    assert.equal(next?.metadata.name, held.metadata.name, "claimed again from the released copy");
    assert.equal(api.conflicts, 0);
    api.catchUp();
    assert.equal(claimantName(claims.current(NS, held.metadata.name) as never), "b");
  });

  it("a status write on top of a claim (the pool machine controller's) keeps the claim in the overlay", async () => {
    const { api, claims } = pool(1);
    api.lag();
    const won = await claims.claim(rm("a"), "p", undefined);
    assert.ok(won);
    const key = `${NS}/${won.metadata.name}`;
    const status = await api.patch<typeof won>(
      R.pooledRemoteMachines,
      NS,
      won.metadata.name,
      { metadata: { resourceVersion: won.metadata.resourceVersion }, status: { phase: "Claimed" } },
      "merge",
      "status",
    );
    claims.written.noteWritten(key, status);
    assert.equal(claims.current(NS, won.metadata.name)?.status?.phase, "Claimed", "the last write is the copy");
    assert.equal(claimantName(claims.current(NS, won.metadata.name) as never), "a", "with the claim under it");
    assert.equal((await claims.claim(rm("b"), "p", undefined))?.metadata.name, undefined);
    api.catchUp();
    assert.equal(claims.written.peek(key), undefined);
  });
});
