import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StatusWriter } from "./statuswriter.js";

function writer(o: { burst?: number; perSecond?: number } = {}) {
  const clock = { t: 1_000_000 };
  const woken: string[] = [];
  const w = new StatusWriter((k) => woken.push(k), { now: () => clock.t, ...o });
  return { w, clock, woken };
}

describe("StatusWriter", () => {
  it("writes urgent changes at once, whatever the interval, hold, starts in flight or budget", async () => {
    const { w } = writer({ burst: 1, perSecond: 1 });
    w.wrote("a");
    let release = () => {};
    const start = w.starts.run(() => new Promise<void>((r) => (release = r)));
    assert.equal(w.decide("a", { urgent: true, holdMs: 5_000 }), 0);
    release();
    await start;
  });

  it("writes an object's first progress at once", () => {
    const { w } = writer();
    assert.equal(w.decide("a", { urgent: false }), 0);
  });

  it("coalesces progress to one write per 10 s per object, saying when to come back", () => {
    const { w, clock } = writer();
    w.wrote("a");
    clock.t += 3_000;
    assert.equal(w.decide("a", { urgent: false }), 7_000);
    // Another object is not held by a's interval.
    assert.equal(w.decide("b", { urgent: false }), 0);
    clock.t += 7_000;
    assert.equal(w.decide("a", { urgent: false }), 0);
  });

  it("holds progress the pass asked to hold (connecting), after the interval check", () => {
    const { w, clock } = writer();
    assert.equal(w.decide("a", { urgent: false, holdMs: 5_000 }), 5_000);
    w.wrote("a");
    clock.t += 1_000;
    assert.equal(w.decide("a", { urgent: false, holdMs: 5_000 }), 9_000);
  });

  it("gives start records priority: progress waits while one is in flight, is woken after, 5 s at most", async () => {
    const { w, clock, woken } = writer();
    let release = () => {};
    const start = w.starts.run(() => new Promise<void>((r) => (release = r)));
    assert.equal(w.decide("a", { urgent: false }), 5_000);
    clock.t += 2_000;
    assert.equal(w.decide("a", { urgent: false }), 3_000);
    release();
    await start;
    assert.deepEqual(woken, ["a"]);
    assert.equal(w.decide("a", { urgent: false }), 0);
    // Starts that keep overlapping do not hold progress for good.
    let release2 = () => {};
    const start2 = w.starts.run(() => new Promise<void>((r) => (release2 = r)));
    assert.equal(w.decide("b", { urgent: false }), 5_000);
    clock.t += 5_000;
    assert.equal(w.decide("b", { urgent: false }), 0);
    release2();
    await start2;
  });

  it("shares one progress budget across objects: a burst goes at once, the rest get slots 1/rate apart", () => {
    const { w } = writer({ burst: 2, perSecond: 5 });
    assert.equal(w.decide("a", { urgent: false }), 0);
    assert.equal(w.decide("b", { urgent: false }), 0);
    assert.equal(w.decide("c", { urgent: false }), 200);
    assert.equal(w.decide("d", { urgent: false }), 400);
    // An urgent write of c gives up its slot.
    assert.equal(w.decide("c", { urgent: true }), 0);
  });

  it("defaults to today's figures: 10 s interval, 5 progress writes a second, 10 at once", () => {
    const { w, clock } = writer();
    for (let i = 0; i < 10; i++) assert.equal(w.decide(`k${i}`, { urgent: false }), 0, `k${i}`);
    assert.equal(w.decide("k10", { urgent: false }), 200);
    w.wrote("k0");
    clock.t += 9_999;
    assert.equal(w.decide("k0", { urgent: false }), 1);
  });

  it("forgets an object that is gone", () => {
    const { w } = writer();
    w.wrote("a");
    w.forget("a");
    assert.equal(w.decide("a", { urgent: false }), 0);
  });
});
