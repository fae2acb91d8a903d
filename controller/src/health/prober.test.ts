import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SSHTarget } from "../ssh/executor.js";
import { FairSlots, slotLimits } from "../ssh/slots.js";
import { HealthProber, type Probe, probeLaneProber } from "./prober.js";

const target = (host: string): SSHTarget =>
  ({
    host,
    port: 22,
    user: "root",
    privateKey: "k",
    hostKeys: { mode: "insecure" },
    connectTimeoutMs: 15_000,
  }) as unknown as SSHTarget;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits (up to 5 s: the CPU is shared) until `pred` holds. */
async function until(what: string, pred: () => boolean): Promise<void> {
  const end = Date.now() + 5_000;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe("HealthProber", () => {
  it("never runs more probes at once than its bound, and probes every watched machine", async () => {
    let now = 0;
    let max = 0;
    const seen = new Set<string>();
    const probe: Probe = async (t) => {
      now++;
      max = Math.max(max, now);
      seen.add(t.host);
      await sleep(20);
      now--;
      return { ok: true, at: new Date() };
    };
    const p = new HealthProber(probe, () => {}, { intervalMs: 50, timeoutMs: 1_000, maxParallel: 3, tickMs: 5 });
    for (let i = 0; i < 12; i++) p.watch(`ns/m${i}`, target(`h${i}`));
    await until("every machine probed", () => seen.size === 12);
    await sleep(100);
    p.stop();
    assert.equal(seen.size, 12, "every machine was probed");
    assert.equal(max, 3, "at most 3 probes ran at once, and the bound was reached");
  });

  it("tells the reconciler only when the verdict changes, and confirms a failure before False", async () => {
    let up = true;
    const notes: string[] = [];
    const probe: Probe = async () =>
      up
        ? { ok: true, at: new Date() }
        : { ok: false, at: new Date(), reason: "HostUnreachable", message: "timed out" };
    const p = new HealthProber(probe, (k) => notes.push(`${k}:${p.verdict(k)?.status}`), {
      intervalMs: 30,
      timeoutMs: 1_000,
      maxParallel: 2,
      tickMs: 5,
    });
    let probes = 0;
    const counted: Probe = async (t, s, ms) => {
      probes++;
      return probe(t, s, ms);
    };
    const q = new HealthProber(counted, (k) => notes.push(`${k}:${q.verdict(k)?.status}`), {
      intervalMs: 30,
      timeoutMs: 1_000,
      maxParallel: 2,
      tickMs: 5,
    });
    p.stop();
    q.watch("ns/a", target("a"));
    await until("five probes", () => probes >= 5);
    assert.deepEqual(notes, ["ns/a:True"], "several successful probes, one notification");
    up = false;
    await until("False", () => notes.length === 2);
    assert.deepEqual(notes, ["ns/a:True", "ns/a:False"]);
    assert.equal(q.verdict("ns/a")?.reason, "HostNotResponding");
    up = true;
    await until("True again", () => notes.length === 3);
    assert.deepEqual(notes, ["ns/a:True", "ns/a:False", "ns/a:True"]);
    q.stop();
  });

  it("aborts a probe that outlives its bound, and an interval of 0 watches nothing", async () => {
    let aborted = false;
    const probe: Probe = (_t, signal) =>
      new Promise((resolve) =>
        signal.addEventListener("abort", () => {
          aborted = true;
          resolve({ ok: false, at: new Date(), reason: "HostUnreachable", message: "no answer" });
        }),
      );
    const p = new HealthProber(probe, () => {}, { intervalMs: 10, timeoutMs: 20, maxParallel: 1, tickMs: 5 });
    p.watch("ns/a", target("a"));
    await until("the hung probe ended by its time bound", () => aborted);
    p.stop();
    const off = new HealthProber(probe, () => {}, { intervalMs: 0, timeoutMs: 20, maxParallel: 1 });
    off.watch("ns/a", target("a"));
    assert.equal(off.counts.watched, 0);
    assert.equal(off.enabled, false);
  });

  it("forgets a machine: its probe in flight is aborted and its verdict gone", async () => {
    let signal: AbortSignal | undefined;
    const probe: Probe = (_t, s) =>
      new Promise((resolve) => {
        signal = s;
        s.addEventListener("abort", () => resolve({ ok: false, at: new Date(), reason: "HostUnreachable" }));
      });
    const notes: string[] = [];
    const p = new HealthProber(probe, (k) => notes.push(k), {
      intervalMs: 10,
      timeoutMs: 5_000,
      maxParallel: 1,
      tickMs: 5,
    });
    p.watch("ns/a", target("a"));
    await until("a probe in flight", () => signal !== undefined);
    p.forget("ns/a");
    assert.equal(signal?.aborted, true);
    await sleep(20);
    assert.equal(p.verdict("ns/a"), undefined);
    assert.deepEqual(notes, []);
    p.stop();
  });

  it("as the controller runs it, waits for a slot of the probe lane (a full lane holds probes back)", async () => {
    const slots = new FairSlots(slotLimits({ bootstrap: 1, cleanup: 1, probe: 1, namespaceShare: 1 }));
    const held = await slots.acquire("probe", "other");
    let dialed = 0;
    const dialer = {
      dial: async () => {
        dialed++;
        throw new Error("unreachable");
      },
    };
    const p = probeLaneProber(dialer, slots, () => {}, { intervalMs: 10, timeoutMs: 100, maxParallel: 5, tickMs: 5 });
    p.watch("ns/a", target("a"));
    await sleep(100);
    assert.equal(dialed, 0, "no probe while the lane's only slot is held");
    held();
    await until("a probe once the slot is free", () => dialed > 0);
    p.stop();
  });
});
