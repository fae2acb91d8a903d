import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { annotationOps, finalizerOps, mergePatch } from "./patch.js";

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
