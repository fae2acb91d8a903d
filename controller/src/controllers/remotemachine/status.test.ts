import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Condition, RemoteMachineStatus } from "@capi-remote/shared";
import {
  finalStatus,
  hostKeySource,
  progressOf,
  setBootstrapFailed,
  setBootstrapRunning,
  setBootstrapSucceeded,
  setProvisioned,
  statusUrgent,
} from "./status.js";

const c = (type: string, status: Condition["status"], reason = "R"): Condition => ({ type, status, reason });
const st = (conds: Condition[], extra: Partial<RemoteMachineStatus> = {}): RemoteMachineStatus => ({
  conditions: conds,
  ...extra,
});

describe("statusUrgent", () => {
  const waiting = st([c("Ready", "False", "WaitingForBootstrapData")]);
  const table: {
    name: string;
    before: RemoteMachineStatus | undefined;
    after: RemoteMachineStatus;
    deleting?: boolean;
    urgent: boolean;
  }[] = [
    { name: "an object's first status", before: undefined, after: waiting, urgent: true },
    {
      name: "a provisioned host going down (HostHealthy flips)",
      before: st([c("HostHealthy", "True")]),
      after: st([c("HostHealthy", "False")]),
      urgent: true,
    },
    { name: "anything while deleting", before: waiting, after: waiting, deleting: true, urgent: true },
    { name: "nothing changed", before: waiting, after: waiting, urgent: false },
    {
      name: "a new waiting reason (progress)",
      before: waiting,
      after: st([c("Ready", "False", "BootstrapRunning")]),
      urgent: false,
    },
    {
      name: "Ready flips",
      before: waiting,
      after: st([c("Ready", "True", "Provisioned")]),
      urgent: true,
    },
    {
      name: "the first successful connection",
      before: waiting,
      after: st([c("Ready", "False"), c("HostReachable", "True", "Connected")]),
      urgent: false,
    },
    {
      name: "a connection problem",
      before: st([c("Ready", "False"), c("HostReachable", "True")]),
      after: st([c("Ready", "False"), c("HostReachable", "False", "HostUnreachable")]),
      urgent: true,
    },
    {
      name: "the end of a connection problem",
      before: st([c("Ready", "False"), c("HostReachable", "False")]),
      after: st([c("Ready", "False"), c("HostReachable", "True")]),
      urgent: true,
    },
    {
      name: "provisioned",
      before: waiting,
      after: st(waiting.conditions ?? [], { initialization: { provisioned: true } }),
      urgent: true,
    },
    {
      name: "a terminal bootstrap failure",
      before: st(waiting.conditions ?? [], { bootstrap: { phase: "Running" } }),
      after: st(waiting.conditions ?? [], { bootstrap: { phase: "Failed" } }),
      urgent: true,
    },
    {
      name: "a failure already written",
      before: st(waiting.conditions ?? [], { bootstrap: { phase: "Failed" } }),
      after: st(waiting.conditions ?? [], { bootstrap: { phase: "Failed" } }),
      urgent: false,
    },
  ];
  for (const row of table) {
    it(`${row.urgent ? "is" : "is not"} urgent: ${row.name}`, () => {
      assert.equal(statusUrgent(row.before, row.after, row.deleting ?? false), row.urgent);
    });
  }
});

describe("finalStatus", () => {
  const now = new Date("2026-01-02T03:04:05.678Z");
  const ready = (s: RemoteMachineStatus) => s.conditions?.find((x) => x.type === "Ready");
  const table: {
    name: string;
    status: RemoteMachineStatus;
    blocker?: { reason: string; message: string };
    want: { status: Condition["status"]; reason: string; message?: string; ready: boolean | undefined };
  }[] = [
    {
      name: "provisioned: Ready True, whatever blocked before",
      status: { initialization: { provisioned: true }, ready: true },
      blocker: { reason: "WaitingForNode", message: "x" },
      want: { status: "True", reason: "Provisioned", ready: true },
    },
    {
      name: "provisioned, its host confirmed down (HostHealthy False): Ready False with that reason, still provisioned",
      status: {
        initialization: { provisioned: true },
        ready: true,
        conditions: [{ type: "HostHealthy", status: "False", reason: "HostNotResponding", message: "no answer" }],
      },
      want: { status: "False", reason: "HostNotResponding", message: "provisioned, but no answer", ready: true },
    },
    {
      name: "provisioned, its host not checkable (HostHealthy Unknown): Ready stays True",
      status: {
        initialization: { provisioned: true },
        ready: true,
        conditions: [{ type: "HostHealthy", status: "Unknown", reason: "AuthenticationFailed" }],
      },
      want: { status: "True", reason: "Provisioned", ready: true },
    },
    {
      name: "a blocker: Ready False with its reason and message, ready false",
      status: {},
      blocker: { reason: "WaitingForBootstrapData", message: "waiting for the data" },
      want: { status: "False", reason: "WaitingForBootstrapData", message: "waiting for the data", ready: false },
    },
    {
      name: "nothing said: NotProvisioned",
      status: {},
      want: { status: "False", reason: "NotProvisioned", ready: false },
    },
    {
      name: "nothing said but a Ready from before: kept",
      status: { conditions: [c("Ready", "False", "BootstrapRunning")] },
      want: { status: "False", reason: "BootstrapRunning", ready: false },
    },
  ];
  for (const row of table) {
    it(row.name, () => {
      const conds = structuredClone(row.status.conditions ?? []);
      const out = finalStatus(structuredClone(row.status), conds, {
        blocker: row.blocker,
        set: new Set(),
        generation: 3,
        now,
      });
      assert.equal(ready(out)?.status, row.want.status);
      assert.equal(ready(out)?.reason, row.want.reason);
      if (row.want.message !== undefined) assert.equal(ready(out)?.message, row.want.message);
      assert.equal(out.ready, row.want.ready);
    });
  }

  it("stamps the final generation on the conditions set in the pass, and only those", () => {
    const conds = [c("HostReachable", "True"), { ...c("Paused", "False"), observedGeneration: 1 }];
    const out = finalStatus({}, conds, { set: new Set(["HostReachable"]), generation: 7, now });
    const by = (t: string) => out.conditions?.find((x) => x.type === t);
    assert.equal(by("HostReachable")?.observedGeneration, 7);
    assert.equal(by("Ready")?.observedGeneration, 7);
    assert.equal(by("Paused")?.observedGeneration, 1);
  });

  it("fits host output into the schema instead of failing the write", () => {
    const long = "x".repeat(100_000);
    const out = finalStatus({}, [], { blocker: { reason: "BootstrapFailed", message: long }, set: new Set(), now });
    const msg = out.conditions?.find((x) => x.type === "Ready")?.message ?? "";
    assert.ok(msg.length > 0 && msg.length < long.length, `message of ${msg.length} characters`);
  });
});

describe("status setters", () => {
  const at = new Date("2026-01-02T03:04:05.678Z");
  it("setProvisioned: the hostname found now, else the one in status, else the recorded one", () => {
    const table: [string | undefined, string | undefined, string | undefined, string | undefined][] = [
      ["now", "status", "recorded", "now"],
      [undefined, "status", "recorded", "status"],
      [undefined, undefined, "recorded", "recorded"],
      [undefined, undefined, undefined, undefined],
    ];
    for (const [found, inStatus, recorded, want] of table) {
      const st: RemoteMachineStatus = {
        failureReason: "old",
        failureMessage: "old",
        ...(inStatus ? { addresses: [{ type: "Hostname", address: inStatus }] } : {}),
      };
      setProvisioned(st, "10.0.0.1", found, recorded);
      assert.equal(st.ready, true);
      assert.deepEqual(st.initialization, { provisioned: true });
      assert.deepEqual(st.addresses, [
        { type: "ExternalIP", address: "10.0.0.1" },
        ...(want ? [{ type: "Hostname", address: want }] : []),
      ]);
      assert.equal(st.failureReason, undefined);
      assert.equal(st.failureMessage, undefined);
    }
  });

  it("setProvisioned: a failure recorded before (k0smotron's ProvisionFailed) is gone, the cached status untouched", () => {
    const failure = { failureReason: "ProvisionFailed", failureMessage: "exit status 1" };
    const cached: RemoteMachineStatus = { deprecated: { v1beta1: { ...failure } } };
    const st: RemoteMachineStatus = { ...cached };
    setProvisioned(st, "10.0.0.1", undefined, undefined);
    assert.equal(st.deprecated, undefined);
    assert.deepEqual(cached.deprecated?.v1beta1, failure);
    const withConditions: RemoteMachineStatus = {
      deprecated: { v1beta1: { ...failure, conditions: [c("Ready", "True")] } },
    };
    setProvisioned(withConditions, "10.0.0.1", undefined, undefined);
    assert.deepEqual(withConditions.deprecated, { v1beta1: { conditions: [c("Ready", "True")] } });
  });

  it("setBootstrapSucceeded / Failed / Running record phase, time (seconds) and step", () => {
    const ok: RemoteMachineStatus = { bootstrap: { phase: "Running", startedAt: "2026-01-02T03:00:00Z" } };
    setBootstrapSucceeded(ok, at, 4);
    assert.deepEqual(ok.bootstrap, {
      phase: "Succeeded",
      startedAt: "2026-01-02T03:00:00Z",
      finishedAt: "2026-01-02T03:04:05Z",
      exitCode: 0,
      step: 4,
      steps: 4,
    });
    const failed: RemoteMachineStatus = {};
    setBootstrapFailed(failed, "BootstrapFailed", "step 2 exited 1", at, 1);
    assert.deepEqual(failed.bootstrap, { phase: "Failed", finishedAt: "2026-01-02T03:04:05Z", exitCode: 1 });
    assert.equal(failed.failureReason, "BootstrapFailed");
    assert.deepEqual(failed.deprecated, {
      v1beta1: { failureReason: "BootstrapFailed", failureMessage: "step 2 exited 1" },
    });
    const running: RemoteMachineStatus = {};
    setBootstrapRunning(running, { startedAt: at, step: 2, steps: 5, stepName: "runcmd" });
    assert.deepEqual(running.bootstrap, {
      phase: "Running",
      startedAt: "2026-01-02T03:04:05Z",
      step: 2,
      steps: 5,
      stepName: "runcmd",
    });
    const job: RemoteMachineStatus = {};
    setBootstrapRunning(job, {});
    assert.deepEqual(job.bootstrap, { phase: "Running" });
  });

  it("hostKeySource and progressOf", () => {
    assert.equal(hostKeySource({ insecureSkipHostKeyVerification: true, hostKeys: ["k"] }), "Unchecked");
    assert.equal(hostKeySource({ hostKeys: ["k"] }), "Pinned");
    assert.equal(hostKeySource({ hostKeysSecretRef: { name: "s" } }), "Pinned");
    assert.equal(hostKeySource({}), "FirstUse");
    assert.equal(progressOf({}), "connecting");
    assert.equal(progressOf({ step: 2, steps: 5, stepName: "runcmd" }), "step 2 of 5: runcmd");
  });
});
