import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  FAILURES_TO_CONFIRM,
  firstDelayMs,
  type HealthState,
  healthCondition,
  JITTER,
  nextDelayMs,
  observe,
} from "./policy.js";

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const ok = (s: number) => ({ ok: true, at: at(s) });
const fail = (s: number, reason = "HostUnreachable", message = "timed out") => ({
  ok: false,
  at: at(s),
  reason,
  message,
});

function run(outcomes: ReturnType<typeof ok | typeof fail>[]) {
  let state: HealthState = { failures: 0 };
  const changes: boolean[] = [];
  for (const o of outcomes) {
    const r = observe(state, o);
    state = r.state;
    changes.push(r.changed);
  }
  return { state, changes };
}

describe("health policy", () => {
  it("spreads first probes over one interval and later ones over interval +/- 20 %", () => {
    assert.equal(firstDelayMs(60_000, 0), 0);
    assert.equal(firstDelayMs(60_000, 0.999), 59_940);
    const healthy: HealthState = { failures: 0 };
    assert.equal(nextDelayMs(60_000, healthy, 0), 60_000 * (1 - JITTER));
    assert.equal(nextDelayMs(60_000, healthy, 1), 60_000 * (1 + JITTER));
    assert.equal(nextDelayMs(60_000, healthy, 0.5), 60_000);
  });

  it("confirms a failure soon (half an interval, at most 5 s), then falls back to the interval", () => {
    assert.equal(nextDelayMs(60_000, { failures: 1 }, 0.5), 5_000);
    assert.equal(nextDelayMs(4_000, { failures: 1 }, 0.5), 2_000);
    assert.equal(nextDelayMs(60_000, { failures: FAILURES_TO_CONFIRM }, 0.5), 60_000);
  });

  it("turns False only after two failed probes in a row, dated from the first", () => {
    const one = run([ok(0), fail(10)]);
    assert.equal(one.state.verdict?.status, "True", "one failure is not confirmed");
    assert.deepEqual(one.changes, [true, false]);
    const two = run([ok(0), fail(10), fail(15)]);
    assert.equal(two.state.verdict?.status, "False");
    assert.equal(two.state.verdict?.reason, "HostNotResponding");
    assert.deepEqual(two.state.verdict?.since, at(10));
    assert.match(two.state.verdict?.message ?? "", /since 2026-01-01T00:00:10Z: timed out/);
    assert.deepEqual(two.changes, [true, false, true]);
  });

  it("does not report a change on every further failed probe (no write per probe)", () => {
    const r = run([ok(0), fail(10), fail(15), fail(75), fail(135)]);
    assert.deepEqual(r.changes, [true, false, true, false, false]);
  });

  it("recovers on the first probe that succeeds, and forgets a single failure", () => {
    const r = run([ok(0), fail(10), fail(15), ok(75)]);
    assert.equal(r.state.verdict?.status, "True");
    assert.equal(r.state.failures, 0);
    assert.deepEqual(r.changes, [true, false, true, true]);
    const blip = run([ok(0), fail(10), ok(15), fail(75)]);
    assert.equal(blip.state.verdict?.status, "True");
    assert.equal(blip.state.failures, 1);
  });

  it("another host key at the address is False (HostKeyMismatch); our own credential trouble is Unknown", () => {
    const mismatch = run([ok(0), fail(1, "HostKeyMismatch", "key changed"), fail(2, "HostKeyMismatch", "key changed")]);
    assert.equal(mismatch.state.verdict?.status, "False");
    assert.equal(mismatch.state.verdict?.reason, "HostKeyMismatch");
    const auth = run([ok(0), fail(1, "AuthenticationFailed", "denied"), fail(2, "AuthenticationFailed", "denied")]);
    assert.equal(auth.state.verdict?.status, "Unknown");
    assert.equal(auth.state.verdict?.reason, "AuthenticationFailed");
    assert.match(auth.state.verdict?.message ?? "", /cannot check the machine: denied/);
  });

  it("Events: a Warning when down or uncheckable, a Normal one only when it comes back", () => {
    const v = (status: "True" | "False" | "Unknown") => ({ status, reason: "R", message: "", since: at(0) });
    assert.equal(healthCondition(undefined, undefined), undefined);
    assert.equal(healthCondition(v("True"), undefined)?.event, undefined);
    assert.equal(healthCondition(v("True"), { status: "True" })?.event, undefined);
    assert.equal(healthCondition(v("True"), { status: "False" })?.event, "Normal");
    assert.equal(healthCondition(v("False"), { status: "True" })?.event, "Warning");
    assert.equal(healthCondition(v("Unknown"), { status: "True" })?.event, "Warning");
  });
});
