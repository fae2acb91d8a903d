/**
 * A bootstrap's deadline counts from the run's start on the machine (L12), on a scripted host and
 * an injected clock: a run found after a controller restart keeps its original deadline, nothing
 * in the object's `bootstrap-started` annotation lengthens or shortens it, and a run started now
 * gets its full `bootstrapSeconds` whatever the annotation says.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Reason } from "@capi-remote/shared";
import { type Rule, ScriptedDialer } from "../../ssh/scripted.js";
import { type BootstrapInput, type HostReport, HostSessions } from "./session.js";
import { bootstrapInput, testTarget } from "./testing.js";

const target = testTarget("192.0.2.1");

/** The controller's clock, far from this machine's: only differences may matter. */
const CLOCK_BASE = Date.parse("2031-03-01T12:00:00Z");
const started = Date.now();
const now = () => CLOCK_BASE + (Date.now() - started);
const iso = (msAgo: number) => new Date(now() - msAgo).toISOString();

const isProbe = (c: string) => c.startsWith("hostname; ");
const isWatch = (c: string) => c.includes("tick") && !c.includes("setsid");
const isStartAndFollow = (c: string) => c.includes("setsid sh -s");
const isKill = (c: string) => c.includes("alive");

/** A run that never ends by itself (held until the test ends), and a kill that stops it. */
function host(probe: string[], more: Rule[] = []) {
  let release!: () => void;
  const held = new Promise<void>((r) => {
    release = r;
  });
  const dialer = new ScriptedDialer([
    { match: isProbe, reply: { lines: probe } },
    ...more,
    { match: isWatch, reply: { lines: ["progress started", "progress 1 1 runcmd[0]"], until: held } },
    { match: isKill, reply: { lines: ["killed 3"] } },
  ]);
  return { dialer, release };
}

const input = (more: Partial<BootstrapInput> = {}) => bootstrapInput(target, more);

/** Runs one bootstrap conversation; ends it after `ms` if it has not ended by itself. */
async function converse(dialer: ScriptedDialer, inp: BootstrapInput, ms = 3000) {
  const hosts = new HostSessions(dialer, (_k, t) => t, { warm: { max: 0, idleMs: 1000 }, now });
  const r: HostReport = {};
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  const t0 = Date.now();
  let error: unknown;
  await hosts
    .bootstrap("t/rm", inp)(r, ac.signal, () => {})
    .catch((e: unknown) => {
      error = e;
    });
  clearTimeout(timer);
  return { r, error, ms: Date.now() - t0, aborted: ac.signal.aborted };
}

describe("bootstrap deadline (scripted host, injected clock)", () => {
  it("a run found after a restart keeps its deadline from the machine's start, though the annotation says it began just now", async () => {
    // The gate was taken 100 s ago by the machine's clock; the limit is 60 s.
    const { dialer, release } = host(["node-1", `running uid-a ${iso(100_000)}`, "age 100"]);
    const { r, aborted } = await converse(dialer, input({ startStamp: iso(0) }));
    release();
    assert.equal(aborted, false, "ended by its own deadline, not by the test");
    assert.equal(r.failure?.reason, Reason.BootstrapTimedOut);
    assert.equal(r.killed?.state, "killed");
    assert.ok(
      dialer.commands.some((c) => isKill(c) && c.includes("124")),
      "the run is stopped and recorded as timed out",
    );
  });

  it("an annotation edited to an old time does not cut a found run short: 10 s into 60 s, it is followed", async () => {
    const { dialer, release } = host(["node-1", `running uid-a ${iso(10_000)}`, "age 10"]);
    const { r, aborted } = await converse(dialer, input({ startStamp: iso(3_600_000) }), 1500);
    release();
    assert.equal(aborted, true, "still followed when the test ended it");
    assert.notEqual(r.failure?.reason, Reason.BootstrapTimedOut);
    assert.ok(dialer.commands.some(isWatch), "the run is being followed");
    assert.ok(!dialer.commands.some(isKill), "nothing stopped");
  });

  it("the deadline is the machine's start plus the limit: 59 s into 59.5 s, it ends half a second later", async () => {
    const { dialer, release } = host(["node-1", `running uid-a ${iso(0)}`, "age 59"]);
    const { r, ms, aborted } = await converse(dialer, input({ bootstrapTimeoutMs: 59_500 }), 5000);
    release();
    assert.equal(aborted, false);
    assert.equal(r.failure?.reason, Reason.BootstrapTimedOut);
    assert.ok(ms >= 400, `not before the deadline (ended after ${ms} ms)`);
  });

  it("a host that cannot tell the age (older record): the stamp in the machine's record counts, not the annotation", async () => {
    const { dialer, release } = host(["node-1", `running uid-a ${iso(100_000)}`]);
    const { r, aborted } = await converse(dialer, input({ startStamp: iso(0) }));
    release();
    assert.equal(aborted, false);
    assert.equal(r.failure?.reason, Reason.BootstrapTimedOut);
  });

  it("a run started now gets its full limit even when the annotation says the start was an hour ago", async () => {
    const { dialer, release } = host(
      ["node-1", "none"],
      [
        {
          match: isStartAndFollow,
          reply: { lines: ["started", "1 1 runcmd[0]", "exit 0 0"], until: new Promise((r) => setTimeout(r, 300)) },
        },
      ],
    );
    const inp = input({ startStamp: iso(3_600_000) });
    const { r, error } = await converse(dialer, inp, 30_000);
    release();
    assert.equal(error, undefined);
    assert.equal(r.ok, true, r.failure?.message);
    assert.ok(!dialer.commands.some(isKill), "nothing stopped");
    // The annotation is kept as the run's identity (a start recorded whose run never reached the machine).
    assert.deepEqual(inp.stamps, [inp.startStamp]);
  });
});
