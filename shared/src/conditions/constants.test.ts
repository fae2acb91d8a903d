import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import * as C from "./constants.js";

describe("condition constants", () => {
  it("import nothing, so the extension can load them without the schema library", () => {
    const src = readFileSync(new URL("./constants.ts", import.meta.url), "utf8");
    assert.doesNotMatch(src, /^\s*import\s/m);
  });

  it("every grouped reason is in the flat Reason with the same value, and every value is its name", () => {
    const groups = Object.entries(C).filter(([k]) => k.endsWith("Reason") && k !== "Reason");
    assert.ok(groups.length >= 13);
    for (const [group, reasons] of groups) {
      for (const [name, value] of Object.entries(reasons as Record<string, string>)) {
        assert.equal(value, name, `${group}.${name}`);
        assert.equal((C.Reason as Record<string, string>)[name], value, `${group}.${name} in Reason`);
        assert.match(value, /^[A-Z][A-Za-z0-9]*$/, `${group}.${name} is CamelCase`);
      }
    }
  });

  it("carry the reasons that used to be string literals at the call sites", () => {
    assert.equal(C.BootstrapExecReason.ProbeFailed, "ProbeFailed");
    assert.equal(C.NodeProviderIDSetReason.NodeProviderIDConflict, "NodeProviderIDConflict");
    assert.equal(C.ControlPlaneEndpointReason.ControlPlaneEndpointSet, "ControlPlaneEndpointSet");
    assert.equal(C.ControlPlaneEndpointReason.ControlPlaneEndpointNotSet, "ControlPlaneEndpointNotSet");
  });
});
