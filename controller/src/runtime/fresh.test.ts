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

  it("steps aside when the informer delivers the version we wrote, not an older one", () => {
    const f = new FreshCache<ReturnType<typeof obj>>();
    f.noteWritten("ns/a", obj("2", "ours"));
    f.seen("ns/a", obj("1", "lagging event"));
    assert.equal(f.peek("ns/a")?.tag, "ours");
    f.seen("ns/a", obj("2", "our version arrives"));
    assert.equal(f.peek("ns/a"), undefined);
  });

  it("lists the overlaid objects younger than maxAgeMs and drops the older ones", () => {
    let t = 0;
    const f = new FreshCache<ReturnType<typeof obj>>(60_000, () => t);
    f.noteWritten("ns/old", obj("2", "old"));
    t = 30_000;
    f.noteWritten("ns/new", obj("5", "new"));
    assert.deepEqual(
      [...f.entries()].map(([k, o]) => [k, o.tag]),
      [
        ["ns/old", "old"],
        ["ns/new", "new"],
      ],
    );
    t = 60_001;
    assert.deepEqual(
      [...f.entries()].map(([k]) => k),
      ["ns/new"],
    );
    assert.equal(f.peek("ns/old"), undefined);
  });

  it("does not overlay a version the informer delivered before the write's answer came", () => {
    const f = new FreshCache<ReturnType<typeof obj>>();
    f.seen("ns/a", obj("2", "our write's event"));
    f.seen("ns/a", obj("3", "someone else's"));
    f.noteWritten("ns/a", obj("2", "ours, answered late"));
    assert.equal(f.get("ns/a", obj("3", "cache"))?.tag, "cache", "the newer cached copy is not hidden");
    f.gone("ns/a");
    f.noteWritten("ns/a", obj("2", "ours"));
    assert.equal(f.get("ns/a", obj("1", "cache"))?.tag, "ours", "a deleted object's versions are forgotten");
  });
});
