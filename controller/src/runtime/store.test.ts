import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IndexedStore } from "./store.js";

type O = { name: string; secrets: string[] };
const names = (xs: O[]) => xs.map((x) => x.name).sort();

describe("IndexedStore", () => {
  it("answers by index, following updates and deletes", () => {
    const s = new IndexedStore<O>();
    s.addIndex("secret", (o) => o.secrets);
    s.set("a", { name: "a", secrets: ["k", "d1"] });
    s.set("b", { name: "b", secrets: ["k", "d2"] });
    assert.deepEqual(names(s.byIndex("secret", "k")), ["a", "b"]);
    assert.deepEqual(names(s.byIndex("secret", "d1")), ["a"]);
    // An update moves the object between values.
    s.set("a", { name: "a", secrets: ["d3"] });
    assert.deepEqual(names(s.byIndex("secret", "k")), ["b"]);
    assert.deepEqual(names(s.byIndex("secret", "d1")), []);
    assert.deepEqual(names(s.byIndex("secret", "d3")), ["a"]);
    s.delete("b");
    assert.deepEqual(names(s.byIndex("secret", "k")), []);
    assert.equal(s.size, 1);
  });

  it("indexes what is stored already, counts a value once per object, and empties on clear", () => {
    const s = new IndexedStore<O>();
    s.set("a", { name: "a", secrets: ["k", "k"] });
    s.addIndex("secret", (o) => o.secrets);
    assert.deepEqual(names(s.byIndex("secret", "k")), ["a"]);
    s.clear();
    assert.deepEqual(s.byIndex("secret", "k"), []);
    assert.equal(s.size, 0);
  });

  it("refuses an unknown index (a mapper asking for one never added is a bug)", () => {
    assert.throws(() => new IndexedStore<O>().byIndex("nope", "x"), /no index nope/);
  });
});
