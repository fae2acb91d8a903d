import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { conditionsOf, isPaused, referenceOf } from "./capi.js";
import { cleanUpCommandsOf, connectionOf, failureOf, isProvisioned } from "./compat.js";

describe("k0smotron field spellings", () => {
  it("reads cleanup commands under either name", () => {
    assert.deepEqual(cleanUpCommandsOf({ customCleanUpCommands: ["a"] }), ["a"]);
    assert.deepEqual(cleanUpCommandsOf({ cleanUpCommands: ["b"] }), ["b"]);
    assert.equal(cleanUpCommandsOf({}), undefined);
  });
  it("reads provisioned from either contract, v1beta2 first", () => {
    const cases: [Parameters<typeof isProvisioned>[0], boolean][] = [
      [undefined, false],
      [{}, false],
      [{ ready: true }, true],
      [{ initialization: { provisioned: true } }, true],
      [{ ready: true, initialization: { provisioned: false } }, false],
    ];
    for (const [status, want] of cases) assert.equal(isProvisioned(status), want, JSON.stringify(status));
  });
  it("reads failures from either place", () => {
    assert.deepEqual(failureOf({ deprecated: { v1beta1: { failureReason: "R", failureMessage: "M" } } }), {
      reason: "R",
      message: "M",
    });
  });
  it("fills the CRD defaults in", () => {
    assert.deepEqual(connectionOf({ address: "h" }), {
      address: "h",
      port: 22,
      user: "root",
      useSudo: false,
      commandsAsScript: false,
      workingDir: "/etc/k0smotron",
      sshKeySecret: undefined,
      cleanUpCommands: undefined,
    });
  });
});

describe("Cluster API views", () => {
  const cond = (type: string) => ({ type, status: "True" as const });
  it("finds v1beta2 conditions through either version", () => {
    assert.deepEqual(
      conditionsOf({ apiVersion: "cluster.x-k8s.io/v1beta2", status: { conditions: [cond("Available")] } }),
      [cond("Available")],
    );
    assert.deepEqual(
      conditionsOf({
        apiVersion: "cluster.x-k8s.io/v1beta1",
        status: { conditions: [cond("Ready")], v1beta2: { conditions: [cond("Available")] } },
      }),
      [cond("Available")],
    );
    assert.deepEqual(
      conditionsOf({ apiVersion: "cluster.x-k8s.io/v1beta1", status: { conditions: [cond("Ready")] } }),
      [cond("Ready")],
    );
  });
  it("reads references of both versions", () => {
    assert.deepEqual(
      referenceOf({ apiVersion: "infrastructure.cluster.x-k8s.io/v1beta1", kind: "RemoteMachine", name: "m" }),
      { group: "infrastructure.cluster.x-k8s.io", kind: "RemoteMachine", name: "m" },
    );
    assert.deepEqual(referenceOf({ apiGroup: "infrastructure.cluster.x-k8s.io", kind: "RemoteMachine", name: "m" }), {
      group: "infrastructure.cluster.x-k8s.io",
      kind: "RemoteMachine",
      name: "m",
    });
  });
  it("is paused by the Cluster or by the annotation on either object", () => {
    const meta = (annotations?: Record<string, string>) => ({ metadata: { annotations } });
    const cluster = (paused: boolean, annotations?: Record<string, string>) =>
      ({ apiVersion: "cluster.x-k8s.io/v1beta2", kind: "Cluster", spec: { paused }, ...meta(annotations) }) as const;
    assert.equal(isPaused(cluster(false), meta()), false);
    assert.equal(isPaused(cluster(true), meta()), true);
    assert.equal(isPaused(cluster(false, { "cluster.x-k8s.io/paused": "" }), meta()), true);
    assert.equal(isPaused(undefined, meta({ "cluster.x-k8s.io/paused": "true" })), true);
  });
});
