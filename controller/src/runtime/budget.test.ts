import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PriorityWrites, WriteBudget } from "./budget.js";

describe("WriteBudget", () => {
  it("allows a burst, then gives each waiting key a slot of its own, one per 1/rate", () => {
    let t = 0;
    const b = new WriteBudget(5, 2, 5_000, () => t);
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
    const b = new WriteBudget(10, 3, 5_000, () => t);
    t = 60_000;
    for (const k of ["a", "b", "c"]) assert.equal(b.take(k), 0);
    assert.ok(b.take("d") > 0);
  });

  it("forgets a slot", () => {
    let t = 0;
    const b = new WriteBudget(1, 1, 5_000, () => t);
    b.take("a");
    assert.equal(b.take("b"), 1000);
    b.forget("b");
    t = 1;
    assert.ok(b.take("b") > 1000, "a new reservation, after the one given up");
  });

  it("never makes anyone wait longer than its longest wait, however many reserve (retries in an outage)", () => {
    let t = 0;
    const b = new WriteBudget(5, 10, 5_000, () => t);
    let longest = 0;
    for (let i = 0; i < 500; i++) longest = Math.max(longest, b.take(`k${i}`));
    assert.equal(longest, 5_000);
    // Once the API server is back, a newcomer a few seconds later waits no longer than that.
    t = 3_000;
    assert.ok(b.take("late") <= 5_000);
  });
});

describe("PriorityWrites", () => {
  it("defers keys while a priority write is in flight and wakes them once, when the last ends", async () => {
    const woken: string[] = [];
    const p = new PriorityWrites((k) => woken.push(k));
    assert.equal(p.defer("a"), 0, "nothing in flight: write now");
    let end1!: () => void;
    let fail2!: (e: Error) => void;
    const w1 = p.run(() => new Promise<number>((r) => (end1 = () => r(1))));
    const w2 = p.run(() => new Promise<number>((_, j) => (fail2 = j)));
    assert.equal(p.busy, true);
    assert.equal(p.defer("a"), 5_000);
    assert.equal(p.defer("b"), 5_000);
    assert.ok(p.defer("a") > 0);
    p.forget("b");
    end1();
    assert.equal(await w1, 1);
    assert.deepEqual(woken, [], "one write is still in flight");
    fail2(new Error("refused"));
    await assert.rejects(w2, /refused/);
    assert.deepEqual(woken, ["a"], "woken once, after the failed write too; a forgotten key is not");
    assert.equal(p.busy, false);
    assert.equal(p.defer("c"), 0);
  });
});

describe("PriorityWrites under starts that keep overlapping", () => {
  it("lets a key write once it has waited maxWaitMs, though writes are still in flight", async () => {
    let t = 0;
    const woken: string[] = [];
    const p = new PriorityWrites(
      (k) => woken.push(k),
      5_000,
      () => t,
    );
    let end!: () => void;
    const w = p.run(() => new Promise<void>((r) => (end = r)));
    assert.equal(p.defer("a"), 5_000);
    t = 4_000;
    assert.equal(p.defer("a"), 1_000, "still within its wait: the rest of it");
    t = 5_000;
    assert.equal(p.defer("a"), 0, "waited long enough: writes now");
    assert.equal(p.defer("a"), 5_000, "a later write waits again, from now");
    p.forget("a");
    end();
    await w;
    assert.deepEqual(woken, []);
  });
});
