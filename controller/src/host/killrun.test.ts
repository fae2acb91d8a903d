/**
 * kill-run.sh against real runs on the local /bin/sh: it must stop a run's whole session, also a
 * session that ignores TERM and keeps forking, and say "alive" only when something is truly left.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { sleepsOf } from "../../../test/bed/util.js";
import { planBootstrap } from "../cloudinit/plan.js";
import { KILLED, killRunCommand, parseKill } from "./protocol.js";
import { renderRunner, runInput, startAndFollowCommand } from "./runner.js";

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** Starts a run of `runcmd` in a scratch state directory and returns once its first step runs. */
async function startRun(runcmd: string[]) {
  const root = mkdtempSync(join(tmpdir(), "killrun-"));
  roots.push(root);
  const state = join(root, "state");
  const plan = planBootstrap(`#cloud-config\nruncmd: ${JSON.stringify(runcmd)}\n`, "cloud-config", {});
  const script = renderRunner(plan, { stateDir: state, workingDir: root, commandTimeoutSeconds: 600, owner: "t" });
  const session = spawn("sh", ["-c", startAndFollowCommand(state)], { stdio: ["pipe", "ignore", "ignore"] });
  session.stdin.end(runInput.preamble(state, 600, root) + runInput.body(script) + runInput.go);
  const end = Date.now() + 20_000;
  while (!existsSync(join(state, "step")) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(join(state, "step")), "the run's first step started");
  return { state, session };
}

const kill = (state: string, grace: number) => {
  const r = spawnSync("setsid", ["sh", "-c", killRunCommand(state, KILLED, grace)], { timeout: 60_000 });
  return parseKill({ code: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() });
};

describe("kill-run.sh on a real shell", () => {
  it("stops a run whose steps ignore TERM and keep forking: nothing of its session is left", async () => {
    // TERM is ignored by the step and inherited by its children, so only KILL ends them; the
    // children come every 20 ms, so a kill that signals a list walked before some fork misses
    // those born behind it. Bounded, so a broken kill still lets the test end.
    const tag = `7${process.pid}${Date.now() % 100000}`;
    const loop = `trap '' TERM; i=0; while [ $i -lt 1500 ]; do sleep ${tag} & sleep 0.02; i=$((i + 1)); done`;
    let state = "";
    try {
      const run = await startRun([loop]);
      state = run.state;
      await new Promise((r) => setTimeout(r, 500));
      const k = kill(state, 1);
      assert.deepEqual(sleepsOf(tag), [], "no process of the run is left");
      assert.equal(k.state, "killed");
      assert.ok(k.processes > 5, `it signalled the session's processes (${k.processes})`);
      assert.match(readFileSync(join(state, "exit"), "utf8"), new RegExp(`^${KILLED} `), "the outcome is recorded");
      run.session.kill("SIGKILL");
    } finally {
      // A kill that failed leaves the loop forking: end its session by the run's record.
      const sid = existsSync(join(state, "run")) ? readFileSync(join(state, "run"), "utf8").split(" ")[0] : "";
      if (sid) spawnSync("pkill", ["-KILL", "-s", sid]);
      spawnSync("pkill", ["-KILL", "-f", `^sleep ${tag}$`]);
    }
  });
});
