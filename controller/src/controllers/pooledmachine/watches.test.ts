import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PoolAnnotations, type PooledRemoteMachine } from "@capi-remote/shared";
import { mirrorsOnly } from "./watches.js";

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
