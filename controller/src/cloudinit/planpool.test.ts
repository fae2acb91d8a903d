/**
 * The plan pool with real worker threads: plans equal the in-thread planner's, the hostile
 * 20,000-entry document is refused within 5 s without holding the event loop (figure printed next
 * to the same parse on the event loop, measured in this run), and the time, heap and queue limits
 * each give their answer.
 */
import assert from "node:assert/strict";
import { readlinkSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { after, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { BootstrapDataError, planBootstrap } from "./plan.js";
import { PlanBusy, PlanPool, threadCpuMs } from "./planpool.js";
import { manyFiles, measured } from "./testing.js";

describe("PlanPool (worker threads)", () => {
  const pools: PlanPool[] = [];
  const pool = (o: Partial<ConstructorParameters<typeof PlanPool>[0]> = {}) => {
    const p = new PlanPool({ workers: 2, queue: 16, timeoutMs: 3000, heapMiB: 64, ...o });
    pools.push(p);
    return p;
  };
  after(async () => {
    for (const p of pools) await p.close();
  });

  it("gives the same plan as the planner itself, and the same typed refusals", async () => {
    const p = pool();
    const data = `#cloud-config\nwrite_files:\n- {path: /etc/x, content: aGk=, encoding: b64}\nruncmd:\n- echo {{ ds.meta_data.local_hostname }}\n- [kubeadm, join]\n`;
    const text = `## template: jinja\n${data}`;
    assert.deepEqual(
      await p.plan(text, undefined, { hostname: "h1" }),
      planBootstrap(text, undefined, { hostname: "h1" }),
    );
    await assert.rejects(p.plan("#cloud-config\nruncmd: [a]\nruncmd: [b]\n", undefined, {}), (e: unknown) => {
      assert.ok(e instanceof BootstrapDataError);
      assert.equal(e.reason, "InvalidBootstrapData");
      return true;
    });
    await assert.rejects(p.plan("x", "ignition", {}), (e: unknown) => e instanceof BootstrapDataError);
  });

  it("L9: 20,000 write_files in 1 MiB are refused within 5 s; the event loop is not held (figure)", async () => {
    const text = manyFiles(20_000);
    assert.ok(text.length <= 1024 * 1024);
    const p = pool();
    // Its worker started, as the controller's pool starts one ahead of the first plan.
    await p.plan("#cloud-config\nruncmd: [a]\n", undefined, {});
    const rss0 = process.memoryUsage().rss;
    const off = await measured(() => p.plan(text, undefined, {}));
    const rssPeak = process.memoryUsage().rss;
    const on = await measured(() => planBootstrap(text, undefined, {}));
    console.log(
      `L9 figure: ${(text.length / 1024).toFixed(0)} KiB, 20,000 write_files: refused in ${off.ms.toFixed(0)} ms in a worker (${off.result instanceof Error ? off.result.message.slice(0, 60) : "planned?"}), the event loop's worst delay meanwhile ${off.maxDelayMs.toFixed(0)} ms (RSS ${(rss0 / 1048576).toFixed(0)} -> ${(rssPeak / 1048576).toFixed(0)} MiB); the same plan on the event loop (baseline, this run): ${on.ms.toFixed(0)} ms, worst delay ${on.maxDelayMs.toFixed(0)} ms; load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores`,
    );
    assert.ok(off.result instanceof BootstrapDataError, String(off.result));
    assert.match(
      off.result.message,
      /more than 200000 YAML tokens|write_files has 20000 entries; at most 1024 are allowed|more than 64 MiB|more than 3 s/,
    );
    assert.ok(on.result instanceof BootstrapDataError);
    assert.ok(off.ms < 5000, `${off.ms} ms`);
    // The event loop serves timers while the worker parses; on the loop, none until the parse ends.
    // Counted, not timed: a loaded machine delays both alike.
    assert.equal(on.ticks, 0, "the baseline blocks the loop for the whole parse");
    assert.ok(off.ticks >= 2, `the loop ran its timer ${off.ticks} times during the worker's ${off.ms.toFixed(0)} ms`);
  });

  it("a plan over the time limit is a terminal refusal naming the limit; the pool goes on", async () => {
    // The wall cap far away: the worker's CPU time alone decides, however loaded the machine.
    const p = pool({ timeoutMs: 5, wallFactor: 1000, workers: 1 });
    // Under the token limit: the whole document is built before its count is checked.
    await assert.rejects(p.plan(manyFiles(10_000), undefined, {}), (e: unknown) => {
      assert.ok(e instanceof BootstrapDataError);
      assert.match(e.message, /took more than 0\.005 s, the limit/);
      return true;
    });
    const ok = pool({ workers: 1 });
    assert.equal((await ok.plan("#cloud-config\nruncmd: [a]\n", undefined, {})).steps.length, 1);
  });

  it("the time limit is the worker's CPU time: a plan descheduled past it goes on, up to its wall limit", async () => {
    // A thread that got no CPU (a loaded machine, a throttled Pod) is not cut at the limit.
    const idle = pool({ timeoutMs: 5, wallFactor: 1000, workers: 1, threadCpuMs: () => 0 });
    const t0 = performance.now();
    const plan = await idle.plan(manyFiles(1000), undefined, {});
    const took = performance.now() - t0;
    assert.ok(took > 5, `the plan took ${took.toFixed(0)} ms, longer than the 5 ms limit`);
    assert.ok(plan.steps.length > 0);
    // However little CPU it got, it ends at its wall limit (10 times the limit by default).
    const capped = pool({ timeoutMs: 5, workers: 1, threadCpuMs: () => 0 });
    await assert.rejects(capped.plan(manyFiles(10_000), undefined, {}), (e: unknown) => {
      assert.ok(e instanceof BootstrapDataError);
      assert.match(e.message, /did not end within 0\.05 s, the limit/);
      return true;
    });
  });

  it("reads a thread's CPU time from /proc: it grows with work and not with sleep", {
    skip: process.platform !== "linux" && "Linux only",
  }, async () => {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    const a = threadCpuMs(tid);
    assert.equal(typeof a, "number");
    await new Promise((r) => setTimeout(r, 200));
    const b = threadCpuMs(tid) as number;
    // Busy until the reading grows by 50 ms (however long a loaded machine takes to give them),
    // or 10 s have passed: a reader that does not follow the thread's work fails there.
    const t0 = Date.now();
    let c = b;
    while (c - b < 50 && Date.now() - t0 < 10_000) {
      for (let i = 0; i < 1e5; i++) Math.sqrt(Math.random());
      c = threadCpuMs(tid) as number;
    }
    assert.ok(b - (a as number) < 100, `slept 200 ms, ${b - (a as number)} ms of CPU`);
    assert.ok(c - b >= 50, `busy ${Date.now() - t0} ms of wall time, ${c - b} ms of CPU`);
    assert.equal(threadCpuMs(undefined), undefined);
    assert.equal(threadCpuMs(2 ** 30), undefined, "a thread that is not ours");
  });

  it("a plan over the heap limit is a terminal refusal naming the limit", async () => {
    const p = pool({ heapMiB: 8, timeoutMs: 60_000, workers: 1 });
    await assert.rejects(p.plan(manyFiles(10_000), undefined, {}), (e: unknown) => {
      assert.ok(e instanceof BootstrapDataError);
      assert.match(e.message, /needs more than 8 MiB of memory, the limit/);
      return true;
    });
    // A new worker takes the next plan.
    assert.equal((await p.plan("#cloud-config\nruncmd: [a]\n", undefined, {})).steps.length, 1);
  });

  it("the largest data the limits admit (16 MiB decoded) plans within the default heap", async () => {
    const gz = gzipSync(Buffer.alloc(16 * 1048576 - 1, "x")).toString("base64");
    const text = `#cloud-config\nwrite_files:\n- {path: /big, encoding: gz+b64, content: ${gz}}\n`;
    const plan = await pool().plan(text, undefined, {});
    assert.equal(plan.steps.length, 1);
  });

  it("a full queue says busy (transient), not a verdict on the data", async () => {
    const p = pool({ workers: 1, queue: 1 });
    const big = manyFiles(20_000);
    const first = p.plan(big, undefined, {});
    const second = p.plan(big, undefined, {});
    await assert.rejects(p.plan(big, undefined, {}), PlanBusy);
    await Promise.allSettled([first, second]);
  });
});
