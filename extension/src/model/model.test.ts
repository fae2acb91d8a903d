import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { actionPatch, availableActions, releaseExplanation } from "./actions.js";
import { badness, conditionsOf, summaryOf } from "./conditions.js";
import {
  humanMemory,
  machineRows,
  poolMachineRows,
  poolMachineStatusText,
  poolRows,
  remoteMachineStatusText,
} from "./rows.js";
import { clusterTree, groupMachines } from "./tree.js";
import type { Obj } from "./types.js";

const CLAIMED = "remote.infrastructure.cluster.x-k8s.io/claimed-by";
const QUAR = "remote.infrastructure.cluster.x-k8s.io/quarantined";

const cond = (type: string, status: string, reason = "", message = "", extra: Record<string, string> = {}) => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: "2026-01-01T00:00:00Z",
  ...extra,
});

const machine = (
  name: string,
  o: {
    cluster?: string;
    ms?: string;
    ready?: string;
    reason?: string;
    cp?: boolean;
    phase?: string;
    infra?: string;
  } = {},
): Obj => ({
  kind: "Machine",
  metadata: {
    name,
    namespace: "ns",
    ...(o.cp ? { labels: { "cluster.x-k8s.io/control-plane": "" } } : {}),
    ...(o.ms ? { ownerReferences: [{ apiVersion: "cluster.x-k8s.io/v1beta2", kind: "MachineSet", name: o.ms }] } : {}),
  },
  spec: { clusterName: o.cluster ?? "c1", infrastructureRef: { kind: "RemoteMachine", name: o.infra ?? name } },
  status: { phase: o.phase ?? "Running", conditions: [cond("Ready", o.ready ?? "True", o.reason ?? "Ready")] },
});

describe("conditions: v1beta1 and v1beta2 normalised", () => {
  const cases: [string, Obj["status"], string[]][] = [
    ["v1beta2 list", { conditions: [cond("Available", "True"), cond("Ready", "True")] }, ["Available", "Ready"]],
    [
      "v1beta1 list with severity",
      { conditions: [cond("Ready", "False", "X", "m", { severity: "Error" })] },
      ["Ready"],
    ],
    [
      "v1beta2 object keeps v1beta1 conditions under deprecated: both, no duplicates",
      {
        conditions: [cond("Ready", "True")],
        deprecated: { v1beta1: { conditions: [cond("Ready", "True"), cond("BootstrapReady", "True")] } },
      },
      ["Ready", "BootstrapReady"],
    ],
    ["no status", undefined, []],
  ];
  for (const [name, status, types] of cases)
    it(name, () =>
      assert.deepEqual(
        conditionsOf({ status }).map((c) => c.type),
        types,
      ),
    );

  const levels: [string, ReturnType<typeof conditionsOf>[number] | undefined, number][] = [
    ["True is fine", { type: "Ready", status: "True", reason: "", message: "" }, 0],
    ["Unknown is progressing", { type: "Ready", status: "Unknown", reason: "", message: "" }, 1],
    ["False with severity Error", { type: "Ready", status: "False", reason: "X", message: "", severity: "Error" }, 3],
    [
      "False with severity Warning",
      { type: "Ready", status: "False", reason: "X", message: "", severity: "Warning" },
      2,
    ],
    ["False, failure-like reason", { type: "Ready", status: "False", reason: "BootstrapFailed", message: "" }, 3],
    ["False, waiting reason", { type: "Ready", status: "False", reason: "WaitingForBootstrapData", message: "" }, 1],
    ["missing", undefined, 1],
  ];
  for (const [name, c, want] of levels) it(`badness: ${name}`, () => assert.equal(badness(c), want));

  it("summary prefers Available (v1beta2) over Ready", () => {
    const s = summaryOf({
      metadata: { name: "x" },
      status: { conditions: [cond("Ready", "True"), cond("Available", "False", "NotAvailable", "m")] },
    });
    assert.equal(s.reason, "NotAvailable");
  });
});

describe("cluster tree", () => {
  const input = {
    clusters: [
      {
        kind: "Cluster",
        metadata: { name: "c1", namespace: "ns" },
        spec: { infrastructureRef: { kind: "RemoteCluster", name: "c1" } },
        status: { conditions: [cond("Available", "True")] },
      },
    ],
    machineDeployments: [
      {
        kind: "MachineDeployment",
        metadata: { name: "md", namespace: "ns" },
        spec: { clusterName: "c1", replicas: 3 },
        status: { replicas: 3, availableReplicas: 2, readyReplicas: 2, upToDateReplicas: 3 },
      },
    ],
    machineSets: [
      {
        kind: "MachineSet",
        metadata: {
          name: "md-1",
          namespace: "ns",
          ownerReferences: [{ apiVersion: "x", kind: "MachineDeployment", name: "md" }],
        },
        spec: { clusterName: "c1", replicas: 3 },
      },
    ],
    machines: [
      machine("cp-0", { cp: true }),
      machine("md-1-a", { ms: "md-1" }),
      machine("md-1-b", { ms: "md-1" }),
      machine("md-1-c", { ms: "md-1", ready: "False", reason: "BootstrapFailed" }),
      machine("lone"),
      machine("other-cluster", { cluster: "c2" }),
    ],
    infra: new Map<string, Obj>([
      [
        "RemoteCluster/ns/c1",
        {
          kind: "RemoteCluster",
          metadata: { name: "c1", namespace: "ns" },
          status: { conditions: [cond("Ready", "True")] },
        },
      ],
    ]),
  };
  const rows = clusterTree(input.clusters[0] as Obj, input);
  it("has the clusterctl describe shape", () => {
    assert.deepEqual(
      rows.map((r) => [r.depth, r.kind, r.name]),
      [
        [0, "Cluster", "c1"],
        [1, "RemoteCluster", "c1"],
        [1, "ControlPlane", "(machines)"],
        [2, "Machine", "cp-0"],
        [1, "MachineDeployment", "md"],
        [2, "MachineSet", "md-1"],
        [3, "Machine", "md-1-c"],
        [3, "Machine", "2 Machines..."],
        [1, "Workers", "other Machines"],
        [2, "Machine", "lone"],
      ],
    );
  });
  it("carries replica counts and folds machines in the same state", () => {
    const md = rows.find((r) => r.kind === "MachineDeployment");
    assert.deepEqual([md?.replicas, md?.available, md?.ready, md?.upToDate], ["3/3", 2, 2, 3]);
    assert.deepEqual(rows.find((r) => r.names)?.names, ["md-1-a", "md-1-b"]);
    assert.equal(rows.find((r) => r.name === "md-1-c")?.level, 3, "the failing machine is an error");
  });
  it("groups nothing when states differ", () => {
    assert.equal(groupMachines([machine("a"), machine("b", { ready: "False", reason: "X" })], 0, "p").length, 2);
  });
});

describe("machine rows", () => {
  it("failing first, then by name", () => {
    const rows = machineRows([
      machine("b"),
      machine("a"),
      machine("z", { phase: "Failed", ready: "False", reason: "BootstrapFailed" }),
    ]);
    assert.deepEqual(
      rows.map((r) => r.name),
      ["z", "a", "b"],
    );
  });
});

describe("pools", () => {
  const prm = (
    name: string,
    pool: string,
    o: { claimed?: string; phase?: string; cordoned?: boolean; quarantined?: boolean } = {},
  ): Obj => ({
    kind: "PooledRemoteMachine",
    metadata: {
      name,
      namespace: "ns",
      annotations: {
        ...(o.claimed ? { [CLAIMED]: o.claimed, [`${CLAIMED}-uid`]: "u" } : {}),
        ...(o.quarantined
          ? { [QUAR]: JSON.stringify({ reason: "CleanupFailed", message: "k0s reset failed", since: "" }) }
          : {}),
      },
    },
    spec: { pool, machine: { address: `10.0.0.${name.length}` }, ...(o.cordoned ? { cordoned: true } : {}) },
    status: {
      ...(o.phase ? { phase: o.phase } : {}),
      facts: { cpus: 4, memory: "8388608Ki", architecture: "amd64", osImage: "Debian 13" },
    },
  });
  const rm = (name: string): Obj => ({
    kind: "RemoteMachine",
    metadata: { name, namespace: "ns", uid: "u" },
    spec: { pool: "a", providerID: "remote-machine://x:22" },
  });
  const prms = [
    prm("a1", "a", { phase: "Available" }),
    prm("a2", "a", { claimed: "rm-1", phase: "InUse" }),
    prm("a3", "a", { cordoned: true, phase: "Cordoned" }),
    prm("a4", "a", { quarantined: true }),
    prm("b1", "b", { claimed: "gone" }),
  ];
  const machines = [machine("m-1", { infra: "rm-1", cluster: "prod" })];
  const rows = poolMachineRows(prms, [rm("rm-1")], machines);
  it("rows: phase (status, else derived), holder, Machine and Cluster, facts", () => {
    const a2 = rows.find((r) => r.name === "a2");
    assert.deepEqual(
      [a2?.phase, a2?.claimedBy, a2?.machine, a2?.cluster, a2?.cpus, a2?.memory],
      ["InUse", "rm-1", "m-1", "prod", "4", "8.0 GiB"],
    );
    assert.equal(a2?.reason, "", "a held machine has no problem");
    assert.equal(rows.find((r) => r.name === "a4")?.phase, "Quarantined", "derived when status has none");
    assert.equal(rows.find((r) => r.name === "b1")?.phase, "Claimed");
    assert.equal(rows.find((r) => r.name === "b1")?.reason, "ClaimantNotFound");
  });
  it("pool counts and templates", () => {
    const pools = poolRows(rows, [
      { metadata: { name: "t1", namespace: "ns" }, spec: { template: { spec: { pool: "a" } } } },
      { metadata: { name: "t2", namespace: "ns" }, spec: { template: { spec: { pool: "empty" } } } },
    ]);
    assert.deepEqual(
      pools.map((p) => [p.pool, p.total, p.available, p.inUse, p.cordoned, p.quarantined, p.templates.join(",")]),
      [
        ["a", 4, 1, 1, 1, 1, "t1"],
        ["b", 1, 0, 0, 0, 0, ""],
        ["empty", 0, 0, 0, 0, 0, "t2"],
      ],
    );
  });
  it("status texts", () => {
    assert.equal(poolMachineStatusText(prms[3] as Obj)?.level, "critical");
    assert.equal(poolMachineStatusText(prms[4] as Obj), undefined, "no status yet, no condition: nothing to say");
    assert.equal(poolMachineStatusText(prms[0] as Obj), undefined);
    const failing = {
      metadata: { name: "r" },
      status: { conditions: [cond("Ready", "False", "HostKeyMismatch", "it presented SHA256:x")] },
    };
    assert.deepEqual(remoteMachineStatusText(failing), {
      level: "critical",
      text: "HostKeyMismatch: it presented SHA256:x",
    });
    const waiting = {
      metadata: { name: "r" },
      status: { conditions: [cond("Ready", "False", "WaitingForBootstrapData", "")] },
    };
    assert.equal(remoteMachineStatusText(waiting), undefined);
  });
  it("humanMemory", () => {
    assert.equal(humanMemory("16318480Ki"), "15.6 GiB");
    assert.equal(humanMemory("2Gi"), "2.0 GiB");
    assert.equal(humanMemory(undefined), "");
  });

  it("actions: what is offered and what is sent", () => {
    assert.deepEqual(availableActions(prms[0] as Obj), ["cordon"]);
    assert.deepEqual(availableActions(prms[1] as Obj), ["cordon", "release"]);
    assert.deepEqual(availableActions(prms[2] as Obj), ["uncordon"]);
    assert.deepEqual(availableActions(prms[3] as Obj), ["cordon", "release"]);
    assert.deepEqual(actionPatch("cordon", new Date(0)), { spec: { cordoned: true } });
    assert.deepEqual(actionPatch("release", new Date(0)), {
      metadata: { annotations: { "remote.infrastructure.cluster.x-k8s.io/release": "1970-01-01T00:00:00.000Z" } },
    });
  });
  it("release explains what will happen, naming the Machine and Cluster", () => {
    assert.match(
      releaseExplanation(prms[4] as Obj, undefined, undefined).message,
      /RemoteMachine gone no longer exists/,
    );
    const inUse = releaseExplanation(prms[1] as Obj, rm("rm-1"), machines[0]);
    assert.match(inUse.message, /Machine m-1 of Cluster prod is deleted/);
    assert.equal(inUse.ok, "Retire and release");
    assert.match(
      releaseExplanation(prms[3] as Obj, undefined, undefined).message,
      /cleanup failed \(k0s reset failed\)/,
    );
  });
});
