/**
 * Claims under contention: 100 RemoteMachines (with their Cluster API Machines) created at once
 * against 60 free pool machines, with two controller replicas working at the same time (leader
 * election off, so both really race). Exactly 60 claims, no machine claimed twice, 40 waiting;
 * 40 more pool machines and every RemoteMachine holds exactly one. Real API server and CAPI
 * manager; no SSH is needed (the bootstrap Secret is absent, so nothing is provisioned).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { waitFor } from "../bed/util.js";
import { useBed } from "../integration/helpers.js";
import { type Any, ControllerProcess, INFRA, makeCluster, objects } from "./harness.js";

const CLAIMED_BY = "remote.infrastructure.cluster.x-k8s.io/claimed-by";
const POOL_MACHINE = "remote.infrastructure.cluster.x-k8s.io/pool-machine";

describe("claims under contention", () => {
  const t = useBed("claims");
  let o: ReturnType<typeof objects>;
  const controllers: ControllerProcess[] = [];

  const poolMachine = (i: number) => ({
    apiVersion: `${INFRA}/v1beta2`,
    kind: "PooledRemoteMachine",
    metadata: { name: `pm-${String(i).padStart(3, "0")}` },
    spec: {
      pool: "big",
      // Addresses nobody answers on: nothing here connects (facts are off, no bootstrap data).
      machine: { address: `198.18.${200 + Math.floor(i / 250)}.${(i % 250) + 1}`, sshKeyRef: { name: "ssh-key" } },
    },
  });
  const inBatches = async <T>(items: T[], size: number, fn: (x: T) => Promise<unknown>) => {
    for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
  };

  /** Checks the invariants and returns claims as pool machine -> RemoteMachine. */
  const snapshot = async () => {
    const prms = await o.list("pooledremotemachines");
    const rms = await o.list("remotemachines");
    const claims = new Map<string, string>();
    for (const p of prms) {
      const who = p.metadata.annotations?.[CLAIMED_BY];
      if (who) claims.set(p.metadata.name, who);
    }
    const holders = [...claims.values()];
    const byRm = new Map(rms.map((r: Any) => [r.metadata.name, r]));
    const committed = rms.filter((r: Any) => r.metadata.annotations?.[POOL_MACHINE]);
    return { prms, rms, claims, holders, byRm, committed };
  };
  const assertConsistent = (s: Awaited<ReturnType<typeof snapshot>>) => {
    assert.equal(new Set(s.holders).size, s.holders.length, "no RemoteMachine holds two pool machines");
    for (const [pm, who] of s.claims) {
      assert.equal(s.byRm.get(who)?.metadata.annotations?.[POOL_MACHINE], pm, `${who} records ${pm}`);
      assert.equal(
        s.byRm.get(who)?.spec.address,
        s.prms.find((p: Any) => p.metadata.name === pm)?.spec.machine.address,
      );
    }
    assert.equal(s.committed.length, s.claims.size, "every recorded pool machine is claimed by its recorder");
  };

  before(async () => {
    o = objects(t.bed, t.ns);
    await makeCluster(t.bed, t.ns, "c1");
    await o.apply([
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "ssh-key" },
        stringData: { value: "not used: nothing connects in this test" },
      },
    ]);
    await inBatches(
      Array.from({ length: 60 }, (_, i) => i),
      20,
      (i) => o.apply([poolMachine(i)]),
    );
    for (const name of ["a", "b"]) {
      const c = new ControllerProcess(t.bed, t.ns, `claims-${name}`, ["--pool-facts=false", "--concurrency=20"]);
      controllers.push(c);
      await c.start();
    }
  });
  after(async () => {
    for (const c of controllers) await c.stop();
  });

  it("100 RemoteMachines, 60 free machines, two replicas racing: 60 claims, none twice, 40 waiting", async () => {
    const start = Date.now();
    await inBatches(
      Array.from({ length: 100 }, (_, i) => `rm-${String(i).padStart(3, "0")}`),
      25,
      (name) =>
        o.apply([
          { apiVersion: `${INFRA}/v1beta2`, kind: "RemoteMachine", metadata: { name }, spec: { pool: "big" } },
          {
            apiVersion: "cluster.x-k8s.io/v1beta2",
            kind: "Machine",
            metadata: { name },
            spec: {
              clusterName: "c1",
              bootstrap: { dataSecretName: "absent" },
              infrastructureRef: { apiGroup: INFRA, kind: "RemoteMachine", name },
            },
          },
        ]),
    );
    const s = await waitFor(
      "60 claimed and 40 waiting",
      async () => {
        const x = await snapshot();
        const waiting = x.rms.filter((r: Any) =>
          r.status?.conditions?.some(
            (c: Any) => c.type === "PoolMachineClaimed" && c.reason === "WaitingForPoolMachine",
          ),
        );
        if (x.claims.size !== 60 || x.committed.length !== 60 || waiting.length !== 40)
          throw new Error(`${x.claims.size} claims, ${x.committed.length} recorded, ${waiting.length} waiting`);
        // A duplicate claim of the two replicas lasts until the pool machine's reconcile clears it.
        assertConsistent(x);
        return x;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    console.log(`# 60 claims settled ${Date.now() - start} ms after the first RemoteMachine was created`);
    // They really raced: both replicas wrote claims, and claim writes lost to the other's (409).
    const claimWrites = (code: string) =>
      Promise.all(
        controllers.map((c) =>
          c.metric("capi_remote_api_requests_total", { verb: "patch", resource: "pooledremotemachines", code }),
        ),
      );
    const won = await claimWrites("200");
    const lost = await claimWrites("409");
    console.log(
      `# claim writes per replica: won ${won.join(", ")}; lost to the other's write (409) ${lost.join(", ")}`,
    );
    assert.ok(
      won.every((n) => n > 0),
      `both replicas claimed machines (won ${won.join(", ")})`,
    );
    assert.ok(
      lost.reduce((a, b) => a + b, 0) > 0,
      "a claim write lost a race (409): the replicas contended for the same machine",
    );
    // Stable: nothing moves afterwards.
    await new Promise((r) => setTimeout(r, 3000));
    const again = await snapshot();
    assert.deepEqual([...again.claims].sort(), [...s.claims].sort(), "claims did not move");
    assertConsistent(again);
  });

  it("40 more pool machines: every RemoteMachine holds exactly one, earlier claims untouched", async () => {
    const before = (await snapshot()).claims;
    const start = Date.now();
    await inBatches(
      Array.from({ length: 40 }, (_, i) => 60 + i),
      20,
      (i) => o.apply([poolMachine(i)]),
    );
    // Two replicas may both claim for one RemoteMachine; the record on it picks one, and the pool
    // machine's reconcile clears the other (docs/pools.md). So the counts can reach 100 while such
    // a duplicate is still there: wait until the claims are also consistent, then that they stay.
    const s = await waitFor(
      "100 claimed, consistently",
      async () => {
        const x = await snapshot();
        if (x.claims.size !== 100 || x.committed.length !== 100)
          throw new Error(`${x.claims.size} claims, ${x.committed.length} recorded`);
        assertConsistent(x);
        return x;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    console.log(`# 40 waiting RemoteMachines claimed within ${Date.now() - start} ms of the machines being added`);
    await new Promise((r) => setTimeout(r, 3000));
    const again = await snapshot();
    assert.deepEqual([...again.claims].sort(), [...s.claims].sort(), "claims did not move");
    assertConsistent(again);
    for (const [pm, who] of before) assert.equal(s.claims.get(pm), who, `${pm} still held by ${who}`);
    const conflicts = (
      await Promise.all(controllers.map((c) => c.metric("capi_remote_reconcile_errors_total")))
    ).reduce((a, b) => a + b, 0);
    console.log(`# reconciles that lost a write race (409) across both replicas: ${conflicts}`);
  });
});
