import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PoolAnnotations, type PooledRemoteMachine } from "@capi-remote/shared";
import { parseConfig } from "../config.js";
import { mirrorsOnly } from "../controllers/pooledmachine/watches.js";
import { asRoot } from "../host/protocol.js";
import { annotationOps, finalizerOps, mergePatch } from "./diff.js";
import { matchNode, type Node } from "./nodes.js";
import { jobOutcome } from "./provisionjob.js";

describe("mergePatch", () => {
  const cases: [string, unknown, unknown, unknown][] = [
    ["equal", { a: 1, b: [1] }, { a: 1, b: [1] }, undefined],
    ["changed scalar", { a: 1 }, { a: 2 }, { a: 2 }],
    ["removed key becomes null", { a: 1, b: 2 }, { a: 1 }, { b: null }],
    ["nested", { s: { x: 1, y: 2 } }, { s: { x: 1, y: 3 } }, { s: { y: 3 } }],
    ["arrays replace whole", { c: [1, 2] }, { c: [1] }, { c: [1] }],
    ["new object", {}, { s: { x: 1 } }, { s: { x: 1 } }],
    [
      "objects in arrays compare by content, not key order (the API server sorts keys)",
      { conditions: [{ lastTransitionTime: "t", reason: "R", status: "True", type: "Ready" }] },
      { conditions: [{ type: "Ready", status: "True", reason: "R", lastTransitionTime: "t" }] },
      undefined,
    ],
    [
      "a changed member of an array object replaces the array",
      { conditions: [{ status: "True", type: "Ready" }] },
      { conditions: [{ type: "Ready", status: "False" }] },
      { conditions: [{ type: "Ready", status: "False" }] },
    ],
    ["undefined members are absent", { c: [{ a: 1 }] }, { c: [{ a: 1, b: undefined }] }, undefined],
  ];
  for (const [name, from, to, want] of cases) it(name, () => assert.deepEqual(mergePatch(from, to), want));
});

describe("matchNode: only what a kubelet or host cannot forge (M13)", () => {
  const node = (name: string, labels: Record<string, string> = {}, ip?: string): Node => ({
    metadata: { name, labels },
    ...(ip ? { status: { addresses: [{ type: "InternalIP", address: ip }] } } : {}),
  });
  const nodes = [
    node("host-a"),
    node("n2", { "k0smotron.io/machine-name": "rm-2", "cluster.x-k8s.io/machine-name": "rm-2" }),
    node("n3", {}, "10.0.0.3"),
    node("md-1"),
    node("host-b", {}, "10.0.0.9"),
  ];
  type Want = { machineNames: string[]; hostname?: string; address: string };
  const name = (r: ReturnType<typeof matchNode<Node>>) =>
    "node" in r ? r.node.metadata.name : "ambiguous" in r ? `ambiguous:${r.ambiguous.join(",")}` : undefined;
  const cases: [string, Want, string | undefined][] = [
    ["by the Machine's or RemoteMachine's name", { machineNames: ["rm-x", "MD-1"], address: "10.9.9.9" }, "md-1"],
    [
      "by the host's hostname (a Node without addresses)",
      { machineNames: [], hostname: "HOST-A", address: "x" },
      "host-a",
    ],
    ["by hostname when an address matches", { machineNames: [], hostname: "host-b", address: "10.0.0.9" }, "host-b"],
    [
      "not by a hostname whose Node reports other addresses (a host naming another machine's Node)",
      { machineNames: [], hostname: "host-b", address: "10.0.0.1" },
      undefined,
    ],
    ["never by a machine-name label a kubelet set on itself", { machineNames: ["rm-2"], address: "x" }, undefined],
    ["never by an address alone", { machineNames: ["x"], address: "10.0.0.3" }, undefined],
    [
      "two Nodes matching is ambiguous",
      { machineNames: ["md-1"], hostname: "host-a", address: "x" },
      "ambiguous:host-a,md-1",
    ],
  ];
  for (const [what, want, expected] of cases) it(what, () => assert.equal(name(matchNode(nodes, want)), expected));
});

describe("jobOutcome", () => {
  it("reads Complete, Failed and running Jobs", () => {
    assert.equal(
      jobOutcome({ metadata: { name: "j" }, status: { conditions: [{ type: "Complete", status: "True" }] } }).state,
      "succeeded",
    );
    assert.deepEqual(
      jobOutcome({
        metadata: { name: "j" },
        status: { conditions: [{ type: "Failed", status: "True", reason: "BackoffLimitExceeded" }] },
      }),
      { state: "failed", message: "BackoffLimitExceeded:" },
    );
    assert.equal(jobOutcome({ metadata: { name: "j" }, status: {} }).state, "running");
  });
});

describe("asRoot", () => {
  it("uses sudo -n only for a non-root user who asked for it", () => {
    assert.equal(asRoot("id -u", true, "capi"), "sudo -n sh -c 'id -u'");
    assert.equal(asRoot("id -u", true, "root"), "sh -c 'id -u'");
    assert.equal(asRoot("it's", false, "capi"), "sh -c 'it'\\''s'");
  });
});

describe("parseConfig", () => {
  it("defaults", () => {
    const c = parseConfig([], {});
    assert.ok(c !== "help");
    assert.equal(c.concurrency, 50);
    assert.equal(c.leaderElect, true);
    assert.equal(c.healthAddress, ":8081");
    assert.equal(c.metricsAddress, ":8443");
    assert.equal(c.metricsSecure, true);
    assert.equal(c.metricsCertDir, undefined);
    assert.equal(c.leaseDurationMs, 15_000);
  });
  it("metrics: 0 turns the endpoint off; --metrics-secure takes true or false", () => {
    const c = parseConfig(["--metrics-addr=0", "--metrics-secure=false", "--metrics-cert-dir=/certs"], {});
    assert.ok(c !== "help");
    assert.equal(c.metricsAddress, "");
    assert.equal(c.metricsSecure, false);
    assert.equal(c.metricsCertDir, "/certs");
    assert.throws(() => parseConfig(["--metrics-secure=maybe"], {}), /--metrics-secure must be true or false/);
  });
  it("flags win over the environment", () => {
    const c = parseConfig(["--concurrency=3", "--leader-elect=false"], {
      CAPI_REMOTE_CONCURRENCY: "7",
      POD_NAMESPACE: "ns1",
    });
    assert.ok(c !== "help");
    assert.equal(c.concurrency, 3);
    assert.equal(c.leaderElect, false);
    assert.equal(c.leaderElectionNamespace, "ns1");
  });
  it("rejects bad values with a readable message", () => {
    assert.throws(() => parseConfig(["--concurrency=zero"], {}), /--concurrency must be a positive number/);
    assert.throws(() => parseConfig(["--log-level=loud"], {}), /--log-level/);
    assert.throws(() => parseConfig(["--no-such-flag"], {}), /Unknown option/);
  });
  it("--help", () => assert.equal(parseConfig(["--help"], {}), "help"));
});

describe("mirrorsOnly", () => {
  type PRM = PooledRemoteMachine & { metadata: { name: string } };
  const base: PRM = {
    apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
    kind: "PooledRemoteMachine",
    metadata: { name: "pm", generation: 1, labels: { a: "1" }, annotations: { note: "x" } },
    spec: { pool: "p", machine: { address: "10.0.0.1", sshKeyRef: { name: "k" } } },
  };
  const claimed: PRM = {
    ...base,
    metadata: {
      ...base.metadata,
      annotations: { [PoolAnnotations.ClaimedByUID]: "u", note: "x", [PoolAnnotations.ClaimedBy]: "rm" },
    },
    status: { phase: "Claimed" },
  };
  const cases: [string, PRM, boolean][] = [
    ["a claim (annotations in another order) and a status change", claimed, true],
    ["a spec change (generation)", { ...base, metadata: { ...base.metadata, generation: 2 } }, false],
    ["a label", { ...base, metadata: { ...base.metadata, labels: { a: "2" } } }, false],
    [
      "a release request",
      { ...base, metadata: { ...base.metadata, annotations: { note: "x", [PoolAnnotations.Release]: "now" } } },
      false,
    ],
    ["deletion", { ...base, metadata: { ...base.metadata, deletionTimestamp: "2026-11-30T00:00:00Z" } }, false],
    ["finalizers", { ...base, metadata: { ...base.metadata, finalizers: ["f"] } }, false],
  ];
  for (const [name, now, want] of cases) it(name, () => assert.equal(mirrorsOnly(now, base), want));
});

describe("JSON patch operations for the start record", () => {
  it("appends a finalizer to a list (others stay), creates the list when there is none, and adds nothing twice", () => {
    assert.deepEqual(finalizerOps(["other"], "ours"), [{ op: "add", path: "/metadata/finalizers/-", value: "ours" }]);
    assert.deepEqual(finalizerOps(undefined, "ours"), [{ op: "add", path: "/metadata/finalizers", value: ["ours"] }]);
    assert.deepEqual(finalizerOps([], "ours"), [{ op: "add", path: "/metadata/finalizers", value: ["ours"] }]);
    assert.deepEqual(finalizerOps(["ours", "other"], "ours"), []);
  });
  it("sets annotations one member at a time (keys escaped), or the whole map when there is none", () => {
    assert.deepEqual(annotationOps({ x: "1" }, { "a.io/b~c": "v" }), [
      { op: "add", path: "/metadata/annotations/a.io~1b~0c", value: "v" },
    ]);
    assert.deepEqual(annotationOps(undefined, { "a.io/b": "v" }), [
      { op: "add", path: "/metadata/annotations", value: { "a.io/b": "v" } },
    ]);
  });
});
