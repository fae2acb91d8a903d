/**
 * The generic task manager with fake bodies (pure logic: no SSH, no timers beyond a few ms): one
 * task per key, slots, cancel, the time limit, errors, notifications, and the stop-then-cleanup
 * ordering the delete path relies on.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Acquire, type Task, TaskCancelled, TaskManager } from "./taskmanager.js";

type T = Task<"bootstrap" | "cleanup"> & { note?: string; failure?: string };

/** A body the test ends: `release()` lets it finish, and it sees its abort. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return { opened, open };
}

/** A slot pool of `n` (FIFO), recording who held a slot when. */
function pool(n: number) {
  let free = n;
  const waiting: (() => void)[] = [];
  const log: string[] = [];
  const acquire: Acquire = (kind, key, signal) =>
    new Promise((resolve, reject) => {
      const grant = () => {
        free--;
        log.push(`+${kind}:${key}`);
        resolve(() => {
          free++;
          log.push(`-${kind}:${key}`);
          waiting.shift()?.();
        });
      };
      if (free > 0) return grant();
      const wait = () => grant();
      waiting.push(wait);
      signal.addEventListener("abort", () => {
        const i = waiting.indexOf(wait);
        if (i >= 0) waiting.splice(i, 1);
        reject(new Error("aborted"));
      });
    });
  return { acquire, log };
}

function manager(slots = 4) {
  const p = pool(slots);
  const notified: string[] = [];
  const finished: T[] = [];
  const m = new TaskManager<T>({
    acquire: p.acquire,
    notify: (k) => notified.push(k),
    failed: (t, e) => {
      t.failure ??= e instanceof TaskCancelled ? "cancelled" : e instanceof Error ? e.message : String(e);
    },
    finished: (t) => finished.push(t),
    stopWaitMs: 2000,
  });
  return { m, log: p.log, notified, finished };
}

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
async function ended(t: T, ms = 2000) {
  const end = Date.now() + ms;
  while (t.running && Date.now() < end) await tick(2);
  assert.equal(t.running, false, "the task ended");
}

describe("TaskManager (generic)", () => {
  it("runs a body once per key: a second start while one runs returns the running task", async () => {
    const { m, notified, finished } = manager();
    const g = gate();
    let runs = 0;
    const body = async (t: T) => {
      runs++;
      await g.opened;
      t.ok = true;
    };
    const a = m.start("ns/a", "bootstrap", body);
    const again = m.start("ns/a", "bootstrap", body);
    assert.equal(again, a);
    g.open();
    await ended(a);
    assert.equal(runs, 1);
    assert.equal(a.ok, true);
    assert.ok(a.finishedAt);
    assert.deepEqual(notified, ["ns/a"], "told once, when it ended");
    assert.deepEqual(finished, [a]);
    // Finished: kept (the reconciler reads it) until cleared; then a new one may start.
    assert.equal(m.get("ns/a"), a);
    m.clear("ns/a");
    assert.equal(m.get("ns/a"), undefined);
  });

  it("clear keeps a running task; the body's changed() notifies only while the task is current", async () => {
    const { m, notified } = manager();
    const g = gate();
    let say!: () => void;
    const t = m.start("ns/a", "bootstrap", async (_t, _s, changed) => {
      say = changed;
      await g.opened;
    });
    await tick();
    m.clear("ns/a");
    assert.equal(m.get("ns/a"), t);
    say();
    assert.deepEqual(notified, ["ns/a"]);
    m.cancel("ns/a");
    say();
    assert.deepEqual(notified, ["ns/a"], "a cancelled task's news is not the key's");
    g.open();
    await ended(t);
  });

  it("waits for a slot: the body runs only once a slot is free, in order, and gives it back", async () => {
    const { m, log } = manager(1);
    const g1 = gate();
    const order: string[] = [];
    const a = m.start("ns/a", "bootstrap", async () => {
      order.push("a");
      await g1.opened;
    });
    const b = m.start("ns/b", "cleanup", async () => {
      order.push("b");
    });
    await tick(10);
    assert.deepEqual(order, ["a"], "b waits for the slot a holds");
    assert.equal(b.running, true);
    g1.open();
    await ended(b);
    assert.deepEqual(order, ["a", "b"]);
    assert.deepEqual(log, ["+bootstrap:ns/a", "-bootstrap:ns/a", "+cleanup:ns/b", "-cleanup:ns/b"]);
    assert.equal(a.running, false);
  });

  it("a task cancelled while it waits for a slot never runs its body and reports the cancel", async () => {
    const { m } = manager(1);
    const g = gate();
    m.start("ns/a", "bootstrap", () => g.opened);
    let ran = false;
    const b = m.start("ns/b", "bootstrap", async () => {
      ran = true;
    });
    m.cancel("ns/b");
    await ended(b);
    assert.equal(ran, false);
    assert.equal(b.ok, false);
    assert.equal(b.failure, "cancelled");
    assert.equal(m.get("ns/b"), undefined, "forgotten at once");
    g.open();
  });

  it("cancel aborts the body's signal; an error the body throws is recorded through failed()", async () => {
    const { m } = manager();
    const t = m.start("ns/a", "bootstrap", (_t, signal) => {
      return new Promise<void>((_r, reject) =>
        signal.addEventListener("abort", () => reject(new Error("connection closed"))),
      );
    });
    await tick();
    m.cancel("ns/a");
    await ended(t);
    assert.equal(t.ok, false);
    assert.equal(t.failure, "connection closed");
  });

  it("the time limit aborts the body and marks the task timed out", async () => {
    const { m } = manager();
    const t = m.start(
      "ns/a",
      "bootstrap",
      (_t, signal) => new Promise<void>((r) => signal.addEventListener("abort", () => r())),
      { timeoutMs: 20 },
    );
    await ended(t);
    assert.equal(t.timedOut, true);
    const quick = m.start(
      "ns/b",
      "bootstrap",
      async (x) => {
        x.ok = true;
      },
      { timeoutMs: 1000 },
    );
    await ended(quick);
    assert.equal(quick.timedOut, undefined, "a task within its limit is not marked");
  });

  it("stop, then clean: a task started after a cancel waits until the cancelled one has ended", async () => {
    const { m, log } = manager(4);
    const order: string[] = [];
    const boot = m.start("ns/a", "bootstrap", async (_t, signal) => {
      order.push("bootstrap runs");
      await new Promise<void>((r) => signal.addEventListener("abort", () => r()));
      // Closing the connection takes a moment after the abort.
      await tick(30);
      order.push("bootstrap ended");
    });
    await tick();
    m.cancel("ns/a");
    const cleanup = m.start("ns/a", "cleanup", async () => {
      order.push("cleanup runs");
    });
    await ended(cleanup);
    assert.equal(boot.running, false);
    assert.deepEqual(order, ["bootstrap runs", "bootstrap ended", "cleanup runs"]);
    assert.deepEqual(log, ["+bootstrap:ns/a", "-bootstrap:ns/a", "+cleanup:ns/a", "-cleanup:ns/a"]);
    // Other keys never wait for it.
    const other = m.start("ns/b", "cleanup", async () => {});
    await ended(other);
  });

  it("a cancelled task that ignores its abort delays the next one of its key only up to stopWaitMs", async () => {
    const p = pool(4);
    const m = new TaskManager<T>({ acquire: p.acquire, notify() {}, failed() {}, stopWaitMs: 30 });
    const stuck = gate();
    m.start("ns/a", "bootstrap", () => stuck.opened);
    await tick();
    m.cancel("ns/a");
    const next = m.start("ns/a", "cleanup", async (t) => {
      t.ok = true;
    });
    await ended(next);
    assert.equal(next.ok, true);
    stuck.open();
  });

  it("shutdown aborts every task and waits for them to end", async () => {
    const { m } = manager();
    let ended_ = 0;
    const body = async (_t: T, signal: AbortSignal) => {
      await new Promise<void>((r) => signal.addEventListener("abort", () => r()));
      await tick(10);
      ended_++;
    };
    m.start("ns/a", "bootstrap", body);
    m.start("ns/b", "cleanup", body);
    await tick();
    await m.shutdown(2000);
    assert.equal(ended_, 2);
  });
});
