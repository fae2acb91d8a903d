import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RemoteClusterStatus } from "@capi-remote/shared";
import { type RemoteClusterObserved, remoteClusterStatus } from "./status.js";

const now = new Date("2026-01-01T00:00:00Z");
const brief = (s: RemoteClusterStatus) => ({
  ready: s.ready,
  provisioned: s.initialization?.provisioned,
  conditions: Object.fromEntries((s.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`])),
});
const provisioned = remoteClusterStatus(undefined, { paused: false }, now).status;

describe("remoteClusterStatus", () => {
  const table: {
    name: string;
    before?: RemoteClusterStatus;
    o: RemoteClusterObserved;
    want: ReturnType<typeof brief>;
    became: boolean;
  }[] = [
    {
      name: "new, with an endpoint: provisioned, endpoint set",
      o: { paused: false, endpoint: { host: "10.0.0.1", port: 6443 } },
      want: {
        ready: true,
        provisioned: true,
        conditions: {
          Paused: "False/NotPaused",
          ControlPlaneEndpointSet: "True/ControlPlaneEndpointSet",
          Ready: "True/Provisioned",
        },
      },
      became: true,
    },
    {
      name: "new, no endpoint yet: provisioned anyway (the control plane provider supplies it)",
      o: { paused: false },
      want: {
        ready: true,
        provisioned: true,
        conditions: {
          Paused: "False/NotPaused",
          ControlPlaneEndpointSet: "False/ControlPlaneEndpointNotSet",
          Ready: "True/Provisioned",
        },
      },
      became: true,
    },
    {
      name: "new and paused: only Paused",
      o: { paused: true },
      want: { ready: undefined, provisioned: undefined, conditions: { Paused: "True/Paused" } },
      became: false,
    },
    {
      name: "already provisioned: no second Event",
      before: provisioned,
      o: { paused: false },
      want: brief(provisioned),
      became: false,
    },
    {
      name: "provisioned, then paused: Paused flips, the rest stays",
      before: provisioned,
      o: { paused: true },
      want: { ...brief(provisioned), conditions: { ...brief(provisioned).conditions, Paused: "True/Paused" } },
      became: false,
    },
  ];
  for (const row of table) {
    it(row.name, () => {
      const r = remoteClusterStatus(row.before, row.o, now);
      assert.deepEqual(brief(r.status), row.want);
      assert.equal(r.becameProvisioned, row.became);
    });
  }

  it("stamps observedGeneration and leaves the input untouched", () => {
    const before = structuredClone(provisioned);
    const r = remoteClusterStatus(before, { paused: false, generation: 7 }, now);
    assert.ok(r.status.conditions?.every((c) => c.observedGeneration === 7));
    assert.deepEqual(before, provisioned);
  });
});
