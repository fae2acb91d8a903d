import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WriteBudget } from "./budget.js";

describe("WriteBudget", () => {
  it("allows a burst, then gives each waiting key a slot of its own, one per 1/rate", () => {
    let t = 0;
    const b = new WriteBudget(5, 2, () => t);
    assert.equal(b.take("a"), 0);
    assert.equal(b.take("b"), 0);
    assert.equal(b.take("c"), 200);
    assert.equal(b.take("d"), 400);
    // Coming back early keeps the slot (no new reservation).
    t = 100;
    assert.equal(b.take("c"), 100);
    assert.equal(b.take("d"), 300);
    t = 200;
    assert.equal(b.take("c"), 0);
    t = 400;
    assert.equal(b.take("d"), 0);
    // The rate holds over time: at t = 1400 one token has come back since d's slot.
    t = 1400;
    assert.ok(b.take("e") === 0);
  });

  it("refills up to the burst only", () => {
    let t = 0;
    const b = new WriteBudget(10, 3, () => t);
    t = 60_000;
    for (const k of ["a", "b", "c"]) assert.equal(b.take(k), 0);
    assert.ok(b.take("d") > 0);
  });

  it("forgets a slot", () => {
    let t = 0;
    const b = new WriteBudget(1, 1, () => t);
    b.take("a");
    assert.equal(b.take("b"), 1000);
    b.forget("b");
    t = 1;
    assert.ok(b.take("b") > 1000, "a new reservation, after the one given up");
  });
});
