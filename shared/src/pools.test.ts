import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { returningAfterOf } from "./contract.js";
import { PoolAnnotations, type PooledRemoteMachine, RemoteAnnotations, type RemoteMachine } from "./models/remote.js";
import {
  alikeShape,
  countPool,
  holds,
  isClaimable,
  kubeArch,
  type LabelSelectorLike,
  matchesSelector,
  parseFacts,
  poolPhaseOf,
} from "./pools.js";

describe("returningAfterOf", () => {
  it("reads name and UID", () =>
    assert.deepEqual(returningAfterOf({ [PoolAnnotations.ReturningAfter]: "m-1/u-1" }), {
      machine: "m-1",
      uid: "u-1",
    }));
  it("reads a name alone", () =>
    assert.deepEqual(returningAfterOf({ [PoolAnnotations.ReturningAfter]: "m-1/" }), { machine: "m-1" }));
  it("absent or empty is undefined", () => {
    assert.equal(returningAfterOf(undefined), undefined);
    assert.equal(returningAfterOf({ [PoolAnnotations.ReturningAfter]: "" }), undefined);
  });
});

const prm = (
  o: { annotations?: Record<string, string>; labels?: Record<string, string>; cordoned?: boolean; pool?: string } = {},
): PooledRemoteMachine => ({
  apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
  kind: "PooledRemoteMachine",
  metadata: {
    name: "pm-1",
    namespace: "ns",
    ...(o.annotations ? { annotations: o.annotations } : {}),
    ...(o.labels ? { labels: o.labels } : {}),
  },
  spec: {
    pool: o.pool ?? "p",
    machine: { address: "10.0.0.1", sshKeyRef: { name: "k" } },
    ...(o.cordoned ? { cordoned: true } : {}),
  },
});

const rm = (
  o: {
    uid?: string;
    name?: string;
    annotations?: Record<string, string>;
    deleting?: boolean;
    provisioned?: boolean;
    providerID?: string;
  } = {},
): RemoteMachine => ({
  apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
  kind: "RemoteMachine",
  metadata: {
    name: o.name ?? "rm-1",
    namespace: "ns",
    uid: o.uid ?? "u1",
    ...(o.annotations ? { annotations: o.annotations } : {}),
    ...(o.deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}),
  },
  spec: { pool: "p", ...(o.providerID ? { providerID: o.providerID } : {}) },
  ...(o.provisioned ? { status: { initialization: { provisioned: true } } } : {}),
});

const claim = (name = "rm-1", uid = "u1") => ({
  [PoolAnnotations.ClaimedBy]: name,
  [PoolAnnotations.ClaimedByUID]: uid,
});

describe("matchesSelector", () => {
  const cases: [string, Record<string, string> | undefined, LabelSelectorLike | undefined, boolean][] = [
    ["no selector", { a: "1" }, undefined, true],
    ["empty selector", undefined, {}, true],
    ["matchLabels hit", { a: "1", b: "2" }, { matchLabels: { a: "1" } }, true],
    ["matchLabels miss", { a: "2" }, { matchLabels: { a: "1" } }, false],
    ["matchLabels on no labels", undefined, { matchLabels: { a: "1" } }, false],
    ["In hit", { zone: "x" }, { matchExpressions: [{ key: "zone", operator: "In", values: ["x", "y"] }] }, true],
    ["In miss", { zone: "z" }, { matchExpressions: [{ key: "zone", operator: "In", values: ["x"] }] }, false],
    ["In absent", {}, { matchExpressions: [{ key: "zone", operator: "In", values: ["x"] }] }, false],
    ["NotIn absent", {}, { matchExpressions: [{ key: "zone", operator: "NotIn", values: ["x"] }] }, true],
    ["NotIn hit", { zone: "x" }, { matchExpressions: [{ key: "zone", operator: "NotIn", values: ["x"] }] }, false],
    ["Exists", { gpu: "" }, { matchExpressions: [{ key: "gpu", operator: "Exists" }] }, true],
    ["Exists miss", {}, { matchExpressions: [{ key: "gpu", operator: "Exists" }] }, false],
    ["DoesNotExist", {}, { matchExpressions: [{ key: "gpu", operator: "DoesNotExist" }] }, true],
    ["DoesNotExist miss", { gpu: "1" }, { matchExpressions: [{ key: "gpu", operator: "DoesNotExist" }] }, false],
    [
      "all must hold",
      { a: "1" },
      { matchLabels: { a: "1" }, matchExpressions: [{ key: "b", operator: "Exists" }] },
      false,
    ],
  ];
  for (const [name, labels, sel, want] of cases) it(name, () => assert.equal(matchesSelector(labels, sel), want));
});

describe("holds", () => {
  const cases: [string, RemoteMachine | undefined, PooledRemoteMachine, boolean][] = [
    ["same name and UID", rm(), prm({ annotations: claim() }), true],
    ["no claim", rm(), prm(), false],
    ["other name", rm({ name: "rm-2" }), prm({ annotations: claim() }), false],
    ["same name, new UID, no record (recreated object)", rm({ uid: "u2" }), prm({ annotations: claim() }), false],
    [
      "same name, new UID, records this machine (moved)",
      rm({ uid: "u2", annotations: { [RemoteAnnotations.PoolMachine]: "pm-1" } }),
      prm({ annotations: claim() }),
      true,
    ],
    [
      "records another machine (duplicate claim)",
      rm({ annotations: { [RemoteAnnotations.PoolMachine]: "pm-9" } }),
      prm({ annotations: claim() }),
      false,
    ],
    ["claimant missing", undefined, prm({ annotations: claim() }), false],
  ];
  for (const [name, r, p, want] of cases) it(name, () => assert.equal(holds(r, p), want));
});

describe("poolPhaseOf", () => {
  const q = { [PoolAnnotations.Quarantined]: JSON.stringify({ reason: "CleanupFailed", message: "m", since: "" }) };
  const cases: [string, PooledRemoteMachine, RemoteMachine | undefined, string][] = [
    ["free", prm(), undefined, "Available"],
    ["cordoned free", prm({ cordoned: true }), undefined, "Cordoned"],
    ["quarantined beats everything", prm({ annotations: { ...q, ...claim() }, cordoned: true }), rm(), "Quarantined"],
    [
      "quarantined with a plain-text value",
      prm({ annotations: { [PoolAnnotations.Quarantined]: "disk dead" } }),
      undefined,
      "Quarantined",
    ],
    ["claimed, holder waiting", prm({ annotations: claim() }), rm(), "Claimed"],
    ["claimed, claimant gone", prm({ annotations: claim() }), undefined, "Claimed"],
    [
      "bootstrap started",
      prm({ annotations: claim() }),
      rm({ annotations: { [RemoteAnnotations.BootstrapStarted]: "t" } }),
      "Provisioning",
    ],
    ["provisioned", prm({ annotations: claim() }), rm({ provisioned: true }), "InUse"],
    [
      "status wiped but providerID set",
      prm({ annotations: claim() }),
      rm({ providerID: "remote-machine://x:22" }),
      "InUse",
    ],
    [
      "bootstrap failed",
      prm({ annotations: claim() }),
      {
        ...rm({ annotations: { [RemoteAnnotations.BootstrapStarted]: "t" } }),
        status: { bootstrap: { phase: "Failed" } },
      },
      "Failed",
    ],
    ["holder deleting", prm({ annotations: claim() }), rm({ deleting: true, provisioned: true }), "Cleaning"],
    ["cordoned in use stays InUse", prm({ annotations: claim(), cordoned: true }), rm({ provisioned: true }), "InUse"],
    [
      "cleaned, waiting for its old Machine to go",
      prm({ annotations: { [PoolAnnotations.ReturningAfter]: "md-abc/uid-1" } }),
      undefined,
      "Cleaning",
    ],
  ];
  for (const [name, p, r, want] of cases) it(name, () => assert.equal(poolPhaseOf(p, r), want));
});

describe("isClaimable", () => {
  const cases: [string, PooledRemoteMachine, string, LabelSelectorLike | undefined, boolean][] = [
    ["free, same pool", prm(), "p", undefined, true],
    ["other pool", prm({ pool: "q" }), "p", undefined, false],
    ["claimed", prm({ annotations: claim() }), "p", undefined, false],
    ["cordoned", prm({ cordoned: true }), "p", undefined, false],
    ["quarantined", prm({ annotations: { [PoolAnnotations.Quarantined]: "x" } }), "p", undefined, false],
    [
      "returning after a Machine",
      prm({ annotations: { [PoolAnnotations.ReturningAfter]: "md-abc/uid-1" } }),
      "p",
      undefined,
      false,
    ],
    ["selector matches", prm({ labels: { gpu: "1" } }), "p", { matchLabels: { gpu: "1" } }, true],
    ["selector misses", prm(), "p", { matchLabels: { gpu: "1" } }, false],
    [
      "empty claim annotation counts as free",
      prm({ annotations: { [PoolAnnotations.ClaimedBy]: "" } }),
      "p",
      undefined,
      true,
    ],
  ];
  for (const [name, p, pool, sel, want] of cases) it(name, () => assert.equal(isClaimable(p, pool, sel), want));
});

describe("countPool", () => {
  it("counts each phase; cordoned counts cordoned machines whatever their phase", () => {
    assert.deepEqual(
      countPool([
        { phase: "Available" },
        { phase: "Available" },
        { phase: "InUse", cordoned: true },
        { phase: "Provisioning" },
        { phase: "Cleaning" },
        { phase: "Failed" },
        { phase: "Claimed" },
        { phase: "Cordoned", cordoned: true },
        { phase: "Quarantined" },
      ]),
      { total: 9, available: 2, claimed: 5, inUse: 1, cordoned: 2, quarantined: 1 },
    );
  });
  it("an empty pool is all zeros", () =>
    assert.deepEqual(countPool([]), { total: 0, available: 0, claimed: 0, inUse: 0, cordoned: 0, quarantined: 0 }));
});

describe("alikeShape", () => {
  const f = (cpus: number, memory = "8Gi", architecture = "amd64") => ({
    cpus,
    memory,
    architecture,
    operatingSystem: "linux",
  });
  const cases: [string, Parameters<typeof alikeShape>[0], ReturnType<typeof alikeShape>][] = [
    ["empty pool", [], undefined],
    [
      "one machine",
      [f(4)],
      { capacity: { cpu: "4", memory: "8Gi" }, nodeInfo: { architecture: "amd64", operatingSystem: "linux" } },
    ],
    [
      "alike",
      [f(4), f(4)],
      { capacity: { cpu: "4", memory: "8Gi" }, nodeInfo: { architecture: "amd64", operatingSystem: "linux" } },
    ],
    ["different CPUs", [f(4), f(8)], undefined],
    ["different memory", [f(4), f(4, "16Gi")], undefined],
    ["different arch", [f(4), f(4, "8Gi", "arm64")], undefined],
    ["one without facts yet", [f(4), undefined], undefined],
  ];
  for (const [name, facts, want] of cases) it(name, () => assert.deepEqual(alikeShape(facts), want));
});

describe("parseFacts and kubeArch", () => {
  it("reads the fact script's output", () => {
    assert.deepEqual(
      parseFacts(
        "hostname=node-1\nos=Linux\nkernel=6.1.0-18-amd64\narch=x86_64\ncpus=8\nmemkb=16318480\npretty=Debian GNU/Linux 12 (bookworm)\n",
      ),
      {
        hostname: "node-1",
        operatingSystem: "linux",
        kernelVersion: "6.1.0-18-amd64",
        architecture: "amd64",
        cpus: 8,
        memory: "16318480Ki",
        osImage: "Debian GNU/Linux 12 (bookworm)",
      },
    );
  });
  it("leaves out what it cannot read", () => {
    assert.deepEqual(parseFacts("hostname=\ncpus=abc\nmemkb=\nnoise\n=x\n"), {});
  });
  const arches: [string, string][] = [
    ["x86_64", "amd64"],
    ["aarch64", "arm64"],
    ["armv7l", "arm"],
    ["ppc64le", "ppc64le"],
    ["mips", "mips"],
  ];
  for (const [u, k] of arches) it(`${u} -> ${k}`, () => assert.equal(kubeArch(u), k));
});
