import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FairLane, FairSlots, namespaceOfKey, pickNamespace, SlotCancelled, slotLimits } from "./slots.js";

describe("pickNamespace", () => {
  const L = { total: 4, perNamespace: 2 };
  const cases: {
    what: string;
    held: Record<string, number>;
    waiting: string[];
    order: string[];
    want: string | undefined;
  }[] = [
    { what: "nobody waits", held: {}, waiting: [], order: ["a"], want: undefined },
    { what: "one waiter, free lane", held: {}, waiting: ["a"], order: ["a"], want: "a" },
    { what: "lane full", held: { a: 2, b: 2 }, waiting: ["c"], order: ["c", "a", "b"], want: undefined },
    { what: "the only waiter is at its cap", held: { a: 2 }, waiting: ["a"], order: ["a"], want: undefined },
    {
      what: "a namespace at its cap is passed over for one below it",
      held: { a: 2 },
      waiting: ["a", "b"],
      order: ["a", "b"],
      want: "b",
    },
    {
      what: "the waiter holding fewest goes first, whatever the order",
      held: { a: 1, b: 0 },
      waiting: ["a", "b"],
      order: ["a", "b"],
      want: "b",
    },
    {
      what: "equal holdings: the one served longest ago",
      held: { a: 1, b: 1 },
      waiting: ["a", "b"],
      order: ["b", "a"],
      want: "b",
    },
    {
      what: "holdings of namespaces that do not wait still fill the lane",
      held: { x: 2, y: 1 },
      waiting: ["a"],
      order: ["a", "x", "y"],
      want: "a",
    },
    {
      what: "… up to the total",
      held: { x: 2, y: 2 },
      waiting: ["a"],
      order: ["a", "x", "y"],
      want: undefined,
    },
  ];
  for (const c of cases)
    it(c.what, () => {
      assert.equal(pickNamespace(new Map(Object.entries(c.held)), new Set(c.waiting), c.order, L), c.want);
    });
});

describe("slotLimits", () => {
  it("gives each namespace its share of every lane, rounded up, at least 1, at most the lane", () => {
    assert.deepEqual(slotLimits({ bootstrap: 100, cleanup: 50, probe: 3, namespaceShare: 0.5 }), {
      bootstrap: { total: 100, perNamespace: 50 },
      cleanup: { total: 50, perNamespace: 25 },
      probe: { total: 3, perNamespace: 2 },
    });
    assert.equal(slotLimits({ bootstrap: 10, cleanup: 1, probe: 1, namespaceShare: 0.01 }).bootstrap.perNamespace, 1);
    assert.equal(slotLimits({ bootstrap: 10, cleanup: 1, probe: 1, namespaceShare: 1 }).bootstrap.perNamespace, 10);
  });
});

describe("namespaceOfKey", () => {
  for (const [key, ns] of [
    ["team-a/cp-0", "team-a"],
    ["prm:release:team-b/pool-1", "team-b"],
    ["prm:facts:team-c/m", "team-c"],
    ["cluster-scoped", ""],
  ] as const)
    it(`${key} → ${JSON.stringify(ns)}`, () => assert.equal(namespaceOfKey(key), ns));
});

/** Takes every slot offered within the current turn of the event loop; returns who got one. */
async function grants(lane: FairLane, reqs: string[]): Promise<{ got: string[]; releases: (() => void)[] }> {
  const got: string[] = [];
  const releases: (() => void)[] = [];
  for (const ns of reqs)
    void lane.acquire(ns).then((r) => {
      got.push(ns);
      releases.push(r);
    });
  await new Promise((r) => setImmediate(r));
  return { got, releases };
}

describe("FairLane", () => {
  it("one namespace with 100 waiting tasks holds its cap; another namespace's task gets a slot at once", async () => {
    const lane = new FairLane({ total: 10, perNamespace: 5 });
    const a = await grants(
      lane,
      Array.from({ length: 100 }, () => "hostile"),
    );
    assert.equal(a.got.length, 5);
    assert.equal(lane.inUse("hostile"), 5);
    assert.equal(lane.waiting("hostile"), 95);
    const b = await grants(lane, ["tenant-b"]);
    assert.deepEqual(b.got, ["tenant-b"]);
  });

  it("freed slots go round-robin to the namespaces holding fewest", async () => {
    const lane = new FairLane({ total: 3, perNamespace: 3 });
    const first = await grants(lane, ["a", "a", "a"]);
    assert.equal(first.got.length, 3);
    const order: string[] = [];
    for (const ns of ["a", "a", "b", "b", "c"]) void lane.acquire(ns).then(() => order.push(ns));
    // a releases one at a time: b (fewest held, first to ask), c (holds none), then a (now
    // holding none itself, fewer than b and c).
    for (const r of first.releases) {
      r();
      await new Promise((res) => setImmediate(res));
    }
    assert.deepEqual(order, ["b", "c", "a"]);
    assert.deepEqual([lane.waiting("a"), lane.waiting("b"), lane.inUse("a"), lane.inUse("b")], [1, 1, 1, 1]);
  });

  it("a release is counted once; an aborted waiter leaves the queue and rejects", async () => {
    const lane = new FairLane({ total: 1, perNamespace: 1 });
    const r = await lane.acquire("a");
    const ac = new AbortController();
    const waiting = lane.acquire("b", ac.signal);
    assert.equal(lane.waiting("b"), 1);
    ac.abort();
    await assert.rejects(waiting, SlotCancelled);
    assert.equal(lane.waiting(), 0);
    r();
    r();
    assert.equal(lane.inUse(), 0);
    const again = await grants(lane, ["c", "d"]);
    assert.deepEqual(again.got, ["c"]);
  });

  it("lanes are separate: full bootstraps do not hold up a cleanup", async () => {
    const s = new FairSlots(slotLimits({ bootstrap: 2, cleanup: 2, probe: 2, namespaceShare: 1 }));
    await s.acquire("bootstrap", "a");
    await s.acquire("bootstrap", "a");
    let later = false;
    void s.acquire("bootstrap", "a").then(() => {
      later = true;
    });
    await s.acquire("cleanup", "a");
    await s.acquire("probe", "a");
    await new Promise((r) => setImmediate(r));
    assert.equal(later, false);
  });
});
