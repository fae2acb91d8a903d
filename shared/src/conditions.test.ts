import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Condition, getCondition, isConditionTrue, setCondition } from "./conditions.js";

const t1 = new Date("2026-01-01T00:00:00.123Z");
const t2 = new Date("2026-01-01T00:05:00Z");

describe("setCondition", () => {
  it("adds a condition with a whole-second timestamp", () => {
    const list = setCondition([], { type: "Ready", status: "False", reason: "WaitingForBootstrapData" }, t1, 3);
    assert.deepEqual(list, [
      {
        type: "Ready",
        status: "False",
        reason: "WaitingForBootstrapData",
        message: "",
        lastTransitionTime: "2026-01-01T00:00:00Z",
        observedGeneration: 3,
      },
    ]);
  });

  it("keeps lastTransitionTime while the status stays, even if reason and message change", () => {
    const list = setCondition([], { type: "Ready", status: "False", reason: "A" }, t1);
    setCondition(list, { type: "Ready", status: "False", reason: "B", message: "step 2 of 5" }, t2, 4);
    assert.equal(list.length, 1);
    assert.equal(list[0]?.lastTransitionTime, "2026-01-01T00:00:00Z");
    assert.equal(list[0]?.reason, "B");
    assert.equal(list[0]?.message, "step 2 of 5");
    assert.equal(list[0]?.observedGeneration, 4);
  });

  it("moves lastTransitionTime when the status flips", () => {
    const list = setCondition([], { type: "Ready", status: "False", reason: "A" }, t1);
    setCondition(list, { type: "Ready", status: "True", reason: "Provisioned" }, t2);
    assert.equal(list[0]?.lastTransitionTime, "2026-01-01T00:05:00Z");
  });

  it("leaves other conditions and their order alone", () => {
    const list: Condition[] = [];
    setCondition(list, { type: "Paused", status: "False", reason: "NotPaused" }, t1);
    setCondition(list, { type: "Ready", status: "False", reason: "A" }, t1);
    setCondition(list, { type: "Paused", status: "True", reason: "Paused" }, t2);
    assert.deepEqual(
      list.map((c) => [c.type, c.status]),
      [
        ["Paused", "True"],
        ["Ready", "False"],
      ],
    );
    assert.ok(isConditionTrue(list, "Paused"));
    assert.ok(!isConditionTrue(list, "Ready"));
    assert.equal(getCondition(list, "Missing"), undefined);
  });
});
