import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KubeApi } from "../kube/api.js";
import { LeaderElector } from "./leader.js";
import { makeLogger } from "./log.js";

/** A Lease store with compare-and-swap, standing in for the API server (pure election logic). */
function leaseStore(spec: Record<string, unknown>) {
  let lease = { metadata: { name: "l", namespace: "ns", resourceVersion: "1" }, spec };
  let rv = 1;
  const api = {
    get: async () => structuredClone(lease),
    create: async () => {
      throw new Error("exists");
    },
    replace: async (_r: unknown, _ns: unknown, _n: unknown, obj: typeof lease) => {
      if (obj.metadata.resourceVersion !== lease.metadata.resourceVersion) throw new Error("conflict");
      rv++;
      lease = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } };
      return structuredClone(lease);
    },
  };
  return {
    api: api as unknown as KubeApi,
    /** The other replica renews: its renewTime comes from its own (possibly skewed) clock. */
    renew: (renewTime: string) => {
      rv++;
      lease = { metadata: { ...lease.metadata, resourceVersion: String(rv) }, spec: { ...lease.spec, renewTime } };
    },
    holder: () => lease.spec.holderIdentity,
  };
}

const opts = {
  namespace: "ns",
  name: "l",
  identity: "b",
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};
const log = makeLogger({ level: "error", write: () => {} });
type Probe = { tryAcquireOrRenew(): Promise<boolean> };

describe("LeaderElector: expiry by local observation, not the holder's clock (M11)", () => {
  it("never takes a live lease whose renewTime looks an hour old (the holder's clock is behind)", async () => {
    let now = 0;
    const s = leaseStore({ holderIdentity: "a", leaseDurationSeconds: 15, renewTime: "2026-01-01T00:00:00.000000Z" });
    const b = new LeaderElector(s.api, opts, log, () => now) as unknown as Probe;
    for (let i = 0; i < 30; i++) {
      assert.equal(await b.tryAcquireOrRenew(), false, `took the lease at ${now} ms`);
      now += 2_000;
      // The holder renews every 2 s, each time with a wall-clock time far behind ours.
      s.renew(new Date(Date.UTC(2026, 0, 1, 0, 0, i + 1)).toISOString().replace("Z", "000Z"));
    }
    assert.equal(s.holder(), "a");
  });

  it("takes a lease whose record has not changed for the lease duration since it was first seen", async () => {
    let now = 0;
    // A renewTime in the future (the holder's clock is ahead) does not delay the takeover either.
    const s = leaseStore({ holderIdentity: "a", leaseDurationSeconds: 15, renewTime: "2099-01-01T00:00:00.000000Z" });
    const b = new LeaderElector(s.api, opts, log, () => now) as unknown as Probe;
    assert.equal(await b.tryAcquireOrRenew(), false);
    now = 14_000;
    assert.equal(await b.tryAcquireOrRenew(), false);
    now = 15_001;
    assert.equal(await b.tryAcquireOrRenew(), true);
    assert.equal(s.holder(), "b");
  });
});
