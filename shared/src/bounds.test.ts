import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fitToSchema, truncateString } from "./bounds.js";
import { PooledRemoteMachineStatusSchema, RemoteMachineStatusSchema } from "./models/remote.js";

describe("fitToSchema: status strings from hosts and users never exceed the schema (M8)", () => {
  it("cuts by code points and marks the cut", () => {
    assert.equal(truncateString("short", 10), "short");
    const cut = truncateString("é".repeat(100), 50);
    assert.equal(Array.from(cut).length, 50);
    assert.match(cut, /…\[truncated\]$/);
  });
  it("fits a failure message with a 200 KiB line, a 1,100-character step name and 400-character facts", () => {
    const status = fitToSchema(
      {
        failureMessage: `step 3 failed. Last output:\n${"x".repeat(200 * 1024)}`,
        bootstrap: { phase: "Failed", stepName: `write_files[0] /${"p".repeat(1100)}` },
        conditions: [{ type: "Ready", status: "False", reason: "BootstrapFailed", message: "m".repeat(40_000) }],
      },
      RemoteMachineStatusSchema,
    );
    assert.equal(status.failureMessage?.length, 10240);
    assert.ok((status.bootstrap?.stepName?.length ?? 0) <= 1024);
    assert.equal(status.conditions?.[0]?.message?.length, 32768);
    assert.equal(status.bootstrap?.phase, "Failed");
    const prm = fitToSchema(
      { facts: { osImage: "o".repeat(400), hostname: "h".repeat(400), cpus: 4 } },
      PooledRemoteMachineStatusSchema,
    );
    assert.equal(prm.facts?.osImage?.length, 256);
    assert.equal(prm.facts?.hostname?.length, 253);
    assert.equal(prm.facts?.cpus, 4);
  });
});
