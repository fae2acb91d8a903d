/**
 * Test scratch folders: every one comes from test/bed/util.ts `scratchDir` (removed when its
 * process exits), and the test command fails a run that leaves one (`startScratchRun`). Proven
 * here both ways: the folders of a process that exits are gone and those of a killed one are
 * named; and no test code makes a folder under the system's temporary directory by itself,
 * which would escape both.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { SCRATCH_ENV, startScratchRun } from "../../test/bed/util.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const UTIL = join(ROOT, "test/bed/util.ts");

/** Where test code may call tmpdir() itself, and why its folders are still accounted for. */
const ALLOWED: Record<string, string> = {
  "test/bed/util.ts": "scratchDir itself, and the test command's run folder",
  "test/bed/index.ts":
    "the beds' registry (a later run stops what an aborted one left) and a bed's folder, which its stop() removes",
  "test/bed/hosts.ts": "the test hosts' slots and state, which destroyHost removes (reapStaleHosts after an abort)",
  "extension/test/realhost/jest/harness.tsx":
    "runs inside Freelens's jest, not ours: runJest passes CAPI_REALHOST_DUMPS (a scratchDir); tmpdir() is the fallback by hand",
  "controller/src/security/metricscert.test.ts":
    "removes its one folder in after() (its area is not this check's to edit)",
};

/** Test code: the test trees, the benches, and every *.test.ts(x). */
function testCode(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name.startsWith(".") || ["node_modules", "dist", "test-results", "tmp-scratch", "tree"].includes(name))
      continue;
    const p = join(dir, name);
    const rel = relative(ROOT, p);
    if (statSync(p).isDirectory()) testCode(p, out);
    else if (/\.tsx?$/.test(name) && (/^(test|bench|extension\/test)\//.test(rel) || /\.test\.tsx?$/.test(name)))
      out.push(rel);
  }
  return out;
}

/** Runs `code` (an ES module body with `scratchDir` in scope) in a process of its own. */
function child(code: string, root: string) {
  const body = `const { scratchDir } = await import(${JSON.stringify(UTIL)});\n${code}`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", body], {
    env: { ...process.env, [SCRATCH_ENV]: root },
    encoding: "utf8",
  });
  return { code: r.status, signal: r.signal, stderr: r.stderr };
}

describe("test scratch folders", () => {
  it("are removed when their process exits, passed or failed; a killed process's are named by the run's check", () => {
    const run = startScratchRun();
    try {
      assert.equal(child(`scratchDir("ok-"); scratchDir("ok-");`, run.root).code, 0);
      assert.equal(child(`scratchDir("failed-"); process.exitCode = 1;`, run.root).code, 1);
      assert.deepEqual(readdirSync(run.root), [], "nothing left by processes that exited");
      const killed = child(`scratchDir("killed-"); process.kill(process.pid, "SIGKILL");`, run.root);
      assert.equal(killed.signal, "SIGKILL");
      const left = run.finish();
      assert.equal(left.length, 1, `left: ${left.join(" ")}`);
      assert.match(left[0] ?? "", /^capi-remote-killed-/);
      assert.equal(existsSync(run.root), false, "finish() removes the run's folder");
    } finally {
      rmSync(run.root, { recursive: true, force: true });
    }
  });

  it("a folder kept on a failure is printed and stays, and is not counted as left; an empty one goes", () => {
    const run = startScratchRun();
    try {
      const r = child(
        `const d = scratchDir("dumps-", { keep: "on-failure" }); scratchDir("empty-", { keep: "on-failure" });
         (await import("node:fs")).writeFileSync(d + "/page.html", "<p>");
         process.exitCode = 1;`,
        run.root,
      );
      const kept = readdirSync(run.root).filter((f) => f.startsWith("capi-remote-dumps-"));
      assert.equal(kept.length, 1);
      assert.match(r.stderr, new RegExp(`# kept ${join(run.root, kept[0] ?? "")}`));
      assert.deepEqual(run.finish(), []);
      assert.equal(existsSync(join(run.root, kept[0] ?? "", "page.html")), true);
      assert.equal(readdirSync(run.root).filter((f) => f.startsWith("capi-remote-empty-")).length, 0);
    } finally {
      rmSync(run.root, { recursive: true, force: true });
    }
  });

  it("test code makes none itself under the system's temporary directory (only through scratchDir)", () => {
    const files = testCode(ROOT).filter((f) => f !== "scripts/checks/scratch.test.ts");
    assert.ok(files.includes("controller/src/host/runner.test.ts") && files.includes("test/e2e/harness.ts"));
    const own = /\btmpdir\s*\(|mkdtemp(Sync)?\(\s*["'`]\/tmp/;
    const offenders = files.filter((f) => !(f in ALLOWED) && own.test(readFileSync(join(ROOT, f), "utf8")));
    assert.deepEqual(offenders, [], "use scratchDir() from test/bed/util.ts");
    const stale = Object.keys(ALLOWED).filter(
      (f) => !files.includes(f) || !own.test(readFileSync(join(ROOT, f), "utf8")),
    );
    assert.deepEqual(stale, [], "an allowance no longer needed: drop it");
  });
});
