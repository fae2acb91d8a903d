import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WorkQueue, Yielding } from "./queue.js";

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

/** Waits until `pred` holds (at most 5 s: a loaded machine runs timers late). */
async function until(pred: () => boolean): Promise<void> {
  for (const end = Date.now() + 5_000; !pred() && Date.now() < end; ) await tick(5);
}

describe("WorkQueue", () => {
  it("collapses duplicate keys waiting in the queue", async () => {
    const seen: string[] = [];
    const q = new WorkQueue(
      async (k) => {
        seen.push(k);
        if (k === "busy") await tick(20);
        return undefined;
      },
      { concurrency: 1 },
    );
    q.add("busy"); // occupies the only worker, so the rest wait in the queue
    q.add("a");
    q.add("b");
    q.add("a");
    q.add("b");
    assert.equal(q.depth, 2);
    await until(() => seen.length >= 3);
    await tick(30);
    assert.deepEqual(seen, ["busy", "a", "b"]);
  });

  it("never runs one key twice at once, and reruns a key added while it ran", async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const q = new WorkQueue(
      async () => {
        running++;
        runs++;
        maxRunning = Math.max(maxRunning, running);
        await tick(20);
        running--;
        return undefined;
      },
      { concurrency: 4 },
    );
    q.add("a");
    await tick(2);
    q.add("a");
    q.add("a");
    await until(() => runs >= 2 && running === 0);
    await tick(30);
    assert.equal(maxRunning, 1);
    assert.equal(runs, 2);
  });

  it("bounds concurrency across keys", async () => {
    let running = 0;
    let maxRunning = 0;
    let done = 0;
    const q = new WorkQueue(
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await tick(10);
        running--;
        done++;
        return undefined;
      },
      { concurrency: 3 },
    );
    for (let i = 0; i < 20; i++) q.add(`k${i}`);
    await until(() => done === 20);
    assert.equal(done, 20);
    assert.equal(maxRunning, 3);
  });

  it("retries failures with doubling delays up to the cap, and forgets them", () => {
    const q = new WorkQueue(async () => undefined, { concurrency: 1, baseDelayMs: 100, maxDelayMs: 1000 });
    const delays = [1, 2, 3, 4, 5, 6].map(() => q.addRateLimited("k"));
    assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
    q.forget("k");
    assert.equal(q.addRateLimited("k"), 100);
    assert.equal(q.addRateLimited("k", 150), 150, "a per-call cap");
    void q.shutdown();
  });

  it("goes on from failures read back from the object (a restart), not from the first delay", () => {
    const q = new WorkQueue(async () => undefined, { concurrency: 1, baseDelayMs: 100, maxDelayMs: 10_000 });
    assert.equal(q.addRateLimited("k", undefined, 3), 800, "three failures before the restart");
    assert.equal(q.addRateLimited("k", undefined, 3), 1600, "its own count goes on from there");
    void q.shutdown();
  });

  it("after an outage, runs at once the keys waiting out a backoff and restarts their count", async () => {
    let down = true;
    const runs: string[] = [];
    const q = new WorkQueue(
      async (k) => {
        runs.push(k);
        if (down) throw new Error("connect ECONNREFUSED");
        return undefined;
      },
      { concurrency: 2, baseDelayMs: 60_000 },
    );
    q.add("a");
    q.add("b");
    await until(() => runs.length >= 2);
    await tick(20);
    assert.deepEqual(runs.sort(), ["a", "b"]); // both failed, both now wait a minute
    down = false;
    q.retryFailedNow();
    await until(() => runs.length >= 4);
    assert.deepEqual(runs.sort(), ["a", "a", "b", "b"]);
    // The count restarted: a new failure waits the base delay, not twice it.
    assert.equal(q.addRateLimited("a"), 60_000);
    await q.shutdown();
  });

  it("keeps the earliest of several delayed requeues", async () => {
    const seen: number[] = [];
    const q = new WorkQueue(
      async () => {
        seen.push(Date.now());
        return undefined;
      },
      { concurrency: 1 },
    );
    const start = Date.now();
    q.addAfter("k", 600);
    q.addAfter("k", 20);
    q.addAfter("k", 300);
    await until(() => seen.length >= 1);
    assert.ok((seen[0] ?? 0) - start < 300, `ran after ${(seen[0] ?? 0) - start} ms`);
    await tick(700);
    assert.equal(seen.length, 1);
  });

  it("retries a handler that throws, and requeues when asked", async () => {
    let calls = 0;
    const q = new WorkQueue(
      async () => {
        calls++;
        if (calls === 1) throw new Error("boom");
        if (calls === 2) return { requeueAfterMs: 5 };
        return undefined;
      },
      { concurrency: 1, baseDelayMs: 5 },
    );
    q.add("k");
    await until(() => calls >= 3);
    await tick(30);
    assert.equal(calls, 3);
  });

  it("stops taking work on shutdown and waits for running handlers", async () => {
    let finished = false;
    const q = new WorkQueue(
      async () => {
        await tick(30);
        finished = true;
        return undefined;
      },
      { concurrency: 1 },
    );
    q.add("k");
    await tick(2);
    await q.shutdown();
    assert.ok(finished);
    q.add("later");
    assert.equal(q.depth, 0);
  });
});

describe("Yielding", () => {
  it("runs at once when the other queue is idle, waits while it is busy, and collapses keys", async () => {
    let busy = false;
    const ran: string[] = [];
    const y = new Yielding(
      (k) => ran.push(k),
      () => busy,
      10_000,
      5,
    );
    y.add("a");
    assert.deepEqual(ran, ["a"]);
    busy = true;
    y.add("b");
    y.add("b");
    y.add("c");
    await tick(30);
    assert.deepEqual(ran, ["a"]);
    assert.equal(y.size, 2);
    busy = false;
    // Waiting keys go first, in order: a new key does not jump ahead of them.
    y.add("d");
    await until(() => ran.length === 4);
    assert.deepEqual(ran, ["a", "b", "c", "d"]);
    y.stop();
  });

  it("runs a key that waited its longest even while the other queue stays busy", async () => {
    const ran: string[] = [];
    // A clock of its own: how late the machine runs the timers does not matter.
    let clock = 0;
    const y = new Yielding(
      (k) => ran.push(k),
      () => true,
      40,
      5,
      () => clock,
    );
    y.add("a");
    clock = 15;
    y.add("b");
    await tick(30);
    assert.deepEqual(ran, [], "neither waited 40 ms yet");
    clock = 50;
    await until(() => ran.length > 0);
    await tick(20);
    assert.deepEqual(ran, ["a"], "a waited 50 ms, b 35");
    clock = 55;
    await until(() => ran.length > 1);
    assert.deepEqual(ran, ["a", "b"]);
    y.delete("zzz");
    y.stop();
  });

  it("forgets a key run by other means", async () => {
    const ran: string[] = [];
    const y = new Yielding(
      (k) => ran.push(k),
      () => true,
      20,
      5,
    );
    y.add("a");
    y.delete("a");
    await tick(50);
    assert.deepEqual(ran, []);
    y.stop();
  });
});
