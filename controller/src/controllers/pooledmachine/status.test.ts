import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Condition, PooledRemoteMachine, PooledRemoteMachineStatus } from "@capi-remote/shared";
import { finalPoolStatus, poolConditions, setHostKey, setPoolFields } from "./status.js";

type P = Pick<PooledRemoteMachine, "spec"> & {
  metadata: { name: string; namespace?: string; generation?: number; annotations?: Record<string, string> };
};
const prm = (over: { cordoned?: boolean; annotations?: Record<string, string>; machine?: object } = {}): P => ({
  metadata: { name: "m1", namespace: "ns", generation: 4, annotations: over.annotations ?? {} },
  spec: {
    pool: "p",
    cordoned: over.cordoned,
    machine: { address: "10.0.0.1", sshKeyRef: { name: "k" }, ...(over.machine ?? {}) },
  } as P["spec"],
});
const quarantined = JSON.stringify({
  reason: "CleanupFailed",
  message: "cleanup gave up",
  since: "2026-01-01T00:00:00Z",
});

describe("poolConditions", () => {
  const table: {
    name: string;
    p: P;
    who?: string;
    held?: boolean;
    returning?: { machine: string };
    before?: Condition[];
    want: [string, string, string, string?][];
  }[] = [
    {
      name: "free",
      p: prm(),
      want: [
        ["Claimed", "False", "Available"],
        ["Cordoned", "False", "NotCordoned"],
        ["Quarantined", "False", "NotQuarantined"],
      ],
    },
    {
      name: "cleaned, waiting for its Machine's deletion",
      p: prm(),
      returning: { machine: "md-1" },
      want: [
        ["Claimed", "False", "WaitingForMachineDeletion"],
        ["Cordoned", "False", "NotCordoned"],
        ["Quarantined", "False", "NotQuarantined"],
      ],
    },
    {
      name: "claimed by a RemoteMachine that holds it",
      p: prm(),
      who: "rm-1",
      held: true,
      want: [
        ["Claimed", "True", "Claimed"],
        ["Cordoned", "False", "NotCordoned"],
        ["Quarantined", "False", "NotQuarantined"],
      ],
    },
    {
      name: "claimed by a RemoteMachine that is gone: a Warning",
      p: prm(),
      who: "rm-1",
      held: false,
      want: [
        ["Claimed", "True", "ClaimantNotFound", "Warning"],
        ["Cordoned", "False", "NotCordoned"],
        ["Quarantined", "False", "NotQuarantined"],
      ],
    },
    {
      name: "cordoned (an Event) and quarantined (a Warning)",
      p: prm({ cordoned: true, annotations: { "remote.infrastructure.cluster.x-k8s.io/quarantined": quarantined } }),
      want: [
        ["Claimed", "False", "Available"],
        ["Cordoned", "True", "Cordoned", "Normal"],
        ["Quarantined", "True", "CleanupFailed", "Warning"],
      ],
    },
    {
      name: "uncordoned after a cordon: an Event",
      p: prm(),
      before: [{ type: "Cordoned", status: "True", reason: "Cordoned" }],
      want: [
        ["Claimed", "False", "Available"],
        ["Cordoned", "False", "NotCordoned", "Normal"],
        ["Quarantined", "False", "NotQuarantined"],
      ],
    },
  ];
  for (const row of table) {
    it(row.name, () => {
      const got = poolConditions({
        prm: row.p,
        who: row.who,
        held: row.held ?? false,
        phase: "Available",
        returning: row.returning,
        conditions: row.before ?? [],
      });
      assert.deepEqual(
        got.map((c) => [c.type, c.status, c.reason, ...(c.event ? [c.event] : [])]),
        row.want,
      );
    });
  }
});

describe("pool machine status fields", () => {
  it("setPoolFields: phase, claim, cordon and the generation observed", () => {
    const st: PooledRemoteMachineStatus = { machineRef: { name: "old", namespace: "ns" } };
    setPoolFields(st, prm({ cordoned: true }), "Provisioning", "rm-1");
    assert.deepEqual(st, {
      phase: "Provisioning",
      reserved: true,
      machineRef: { name: "rm-1", namespace: "ns" },
      cordoned: true,
      observedGeneration: 4,
    });
    setPoolFields(st, prm(), "Available", undefined);
    assert.equal(st.reserved, false);
    assert.equal(st.machineRef, undefined);
    assert.equal(st.cordoned, false);
  });

  it("setHostKey: first use or pinned; nothing when unchecked or unknown", () => {
    const fp = (k: string) => `SHA256:${k}`;
    const hk = { "remote.infrastructure.cluster.x-k8s.io/host-key": "key" };
    const table: [P, PooledRemoteMachineStatus["hostKey"]][] = [
      [prm({ annotations: hk }), { fingerprint: "SHA256:key", source: "FirstUse" }],
      [prm({ annotations: hk, machine: { hostKeys: ["x"] } }), { fingerprint: "SHA256:key", source: "Pinned" }],
      [prm({ annotations: hk, machine: { insecureSkipHostKeyVerification: true } }), undefined],
      [prm(), undefined],
    ];
    for (const [p, want] of table) {
      const st: PooledRemoteMachineStatus = {};
      setHostKey(st, p, fp);
      assert.deepEqual(st.hostKey, want);
    }
  });

  it("finalPoolStatus fits a host's long OS name into the schema", () => {
    const osImage = "x".repeat(400);
    const out = finalPoolStatus({ facts: { osImage } }, [{ type: "Claimed", status: "False", reason: "Available" }]);
    assert.ok((out.facts?.osImage?.length ?? 0) <= 256, `osImage of ${out.facts?.osImage?.length} characters`);
    assert.equal(out.conditions?.[0]?.reason, "Available");
  });
});
