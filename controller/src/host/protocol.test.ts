import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { asRoot, parseLine, shellExitCheck } from "./protocol.js";

/** Runs the shell check on `line` under /bin/sh; true when it lets the script go on. */
function shellSays(line: string): boolean {
  const script = [`last='${line}'`, ...shellExitCheck("last"), "exit 0"].join("\n");
  try {
    execFileSync("/bin/sh", ["-c", script], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("shellExitCheck agrees with parseLine", () => {
  const table = ["exit 0 0", "exit 1 3", "exit 124 2", "exit 1 -1", "exit 143 -2", "exit none", "tick", ""];
  for (const line of table) {
    const parsed = parseLine(line);
    const ok = parsed.kind === "exit" && parsed.code === 0;
    it(`${JSON.stringify(line)}: ${ok ? "succeeded" : "failed"}`, () => assert.equal(shellSays(line), ok));
  }
});

describe("asRoot", () => {
  it("uses sudo -n only for a non-root user who asked for it", () => {
    assert.equal(asRoot("id -u", true, "capi"), "sudo -n sh -c 'id -u'");
    assert.equal(asRoot("id -u", true, "root"), "sh -c 'id -u'");
    assert.equal(asRoot("it's", false, "capi"), "sh -c 'it'\\''s'");
  });
});
