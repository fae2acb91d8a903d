import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FreshCache } from "./fresh.js";

const obj = (rv: string, tag = "") => ({ metadata: { resourceVersion: rv }, tag });

describe("FreshCache", () => {
  it("serves our write while the cache still shows an older version", () => {
    let t = 0;
    const f = new FreshCache<ReturnType<typeof obj>>(5_000, () => t);
    f.noteWritten("ns/a", obj("2", "ours"));
    assert.equal(f.get("ns/a", obj("1", "cache"))?.tag, "ours");
    t = 4_999;
    assert.equal(f.get("ns/a", obj("1", "cache"))?.tag, "ours");
  });

  it("steps aside once the cache shows the same version", () => {
    const f = new FreshCache<ReturnType<typeof obj>>();
    f.noteWritten("ns/a", obj("2", "ours"));
    assert.equal(f.get("ns/a", obj("2", "cache"))?.tag, "cache");
    // And stays aside: the entry is gone.
    assert.equal(f.get("ns/a", obj("1", "older cache"))?.tag, "older cache");
  });

  it("trusts the cache again after maxAgeMs, so a write we never saw is not hidden for long", () => {
    let t = 0;
    const f = new FreshCache<ReturnType<typeof obj>>(5_000, () => t);
    f.noteWritten("ns/a", obj("2", "ours"));
    t = 5_001;
    assert.equal(f.get("ns/a", obj("3", "someone else's"))?.tag, "someone else's");
  });

  it("does not overlay a deleted object, and forgets on request", () => {
    const f = new FreshCache<ReturnType<typeof obj>>();
    f.noteWritten("ns/a", obj("2"));
    assert.equal(f.get("ns/a", undefined), undefined);
    assert.equal(f.peek("ns/a"), undefined);
    f.noteWritten("ns/b", obj("2", "ours"));
    f.forget("ns/b");
    assert.equal(f.get("ns/b", obj("1", "cache"))?.tag, "cache");
  });
});
