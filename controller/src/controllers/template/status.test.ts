import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RemoteMachineTemplateStatus } from "@capi-remote/shared";
import { type PoolMember, templateStatus } from "./status.js";

const facts = (cpus: number, memory = "8Gi") => ({ cpus, memory, architecture: "amd64", operatingSystem: "linux" });

describe("templateStatus", () => {
  const table: {
    name: string;
    before?: RemoteMachineTemplateStatus;
    members: PoolMember[];
    want: RemoteMachineTemplateStatus;
  }[] = [
    {
      name: "an empty pool: zero counts, no shape",
      members: [],
      want: { pool: { name: "p", total: 0, available: 0, claimed: 0, inUse: 0, cordoned: 0, quarantined: 0 } },
    },
    {
      name: "alike machines: counts and the autoscaler's capacity and nodeInfo",
      members: [
        { phase: "Available", facts: facts(4) },
        { phase: "InUse", facts: facts(4) },
      ],
      want: {
        pool: { name: "p", total: 2, available: 1, claimed: 0, inUse: 1, cordoned: 0, quarantined: 0 },
        capacity: { cpu: "4", memory: "8Gi" },
        nodeInfo: { architecture: "amd64", operatingSystem: "linux" },
      },
    },
    {
      name: "machines that differ: the shape written before is dropped",
      before: { capacity: { cpu: "4", memory: "8Gi" }, nodeInfo: { architecture: "amd64", operatingSystem: "linux" } },
      members: [
        { phase: "Available", facts: facts(4) },
        { phase: "Available", facts: facts(8) },
      ],
      want: { pool: { name: "p", total: 2, available: 2, claimed: 0, inUse: 0, cordoned: 0, quarantined: 0 } },
    },
    {
      name: "a machine without facts: no shape (it could be anything)",
      members: [{ phase: "Available", facts: facts(4) }, { phase: "Available" }],
      want: { pool: { name: "p", total: 2, available: 2, claimed: 0, inUse: 0, cordoned: 0, quarantined: 0 } },
    },
  ];
  for (const row of table) {
    it(row.name, () => {
      const got = templateStatus(row.before, "p", row.members);
      assert.deepEqual(got.capacity, row.want.capacity);
      assert.deepEqual(got.nodeInfo, row.want.nodeInfo);
      assert.equal(got.pool?.name, "p");
      assert.equal(got.pool?.total, row.want.pool?.total);
      assert.equal(got.pool?.available, row.want.pool?.available);
      assert.equal(got.pool?.inUse, row.want.pool?.inUse);
    });
  }

  it("counts cordoned machines apart", () => {
    const got = templateStatus(undefined, "p", [{ phase: "Cordoned", cordoned: true }, { phase: "Available" }]);
    assert.equal(got.pool?.cordoned, 1);
    assert.equal(got.pool?.total, 2);
  });
});
