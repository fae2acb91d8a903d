/**
 * kill-run.sh against real runs on the local /bin/sh: it must stop a run's whole session, also a
 * session that ignores TERM and keeps forking, and say "alive" only when something is truly left;
 * in mode left (after a deletion's cleanup commands) also what the run started outside its
 * session (setsid, a double fork), and nothing of another run.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { scratchDir, sleepsOf } from "../../../test/bed/util.js";
import { planBootstrap } from "../cloudinit/plan.js";
import { KILLED, killRunCommand, leftoversCommand, parseKill } from "./protocol.js";
import { renderRunner, runInput, startAndFollowCommand } from "./runner.js";

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** Starts a run of `runcmd` in a scratch state directory and returns once its first step runs. */
async function startRun(runcmd: string[]) {
  const root = scratchDir("killrun-");
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

const kill = (state: string, grace: number, mode: "run" | "left" = "run") => {
  const cmd = mode === "run" ? killRunCommand(state, KILLED, grace) : leftoversCommand(state, grace);
  const r = spawnSync("setsid", ["sh", "-c", cmd], { timeout: 60_000 });
  return parseKill({ code: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() });
};

/** Waits until the run of `state` wrote its exit. */
async function finished(state: string) {
  const end = Date.now() + 20_000;
  while (!existsSync(join(state, "exit")) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(join(state, "exit")), "the run finished");
}

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

  it("mode left stops daemons the run started outside its session (setsid, double fork, TERM ignored), and nothing of another run", async () => {
    const tag = `8${process.pid}${Date.now() % 100000}`;
    const other = `9${process.pid}${Date.now() % 100000}`;
    const cleared = `6${process.pid}${Date.now() % 100000}`;
    // Each daemon: a new session (setsid), its parent gone at once (a double fork: init adopts
    // it), TERM ignored (only KILL ends it), and a child of its own forked every 50 ms for 3 s.
    const daemon = (t: string) =>
      `( setsid sh -c "trap '' TERM; i=0; while [ \\$i -lt 60 ]; do sleep ${t} & sleep 0.05; i=\\$((i + 1)); done; sleep ${t}" >/dev/null 2>&1 & ) ; true`;
    try {
      const run = await startRun([daemon(tag), daemon(tag), `env -i setsid sleep ${cleared} >/dev/null 2>&1 &`]);
      const neighbour = await startRun([daemon(other)]);
      await Promise.all([finished(run.state), finished(neighbour.state)]);
      await new Promise((r) => setTimeout(r, 300));
      const before = sleepsOf(tag).length;
      assert.ok(before >= 2, "the daemons run after the run ended");
      // The run itself is over: mode run has nothing to stop, and the daemons live on.
      assert.equal(kill(run.state, 1).state, "finished");
      assert.ok(sleepsOf(tag).length >= 2, "mode run left the daemons alone");
      const t0 = Date.now();
      const k = kill(run.state, 1, "left");
      const ms = Date.now() - t0;
      console.log(
        `kill-run left: ${before} tagged sleeps before; ${k.state} ${k.processes} processes in ${ms} ms (grace 1 s); the run's daemons left: ${sleepsOf(tag).length}; the neighbour run's: ${sleepsOf(other).length}; one started with a cleared environment: ${sleepsOf(cleared).length}`,
      );
      assert.equal(k.state, "killed");
      assert.ok(k.processes >= 4, `it found the daemons and their children (${k.processes})`);
      assert.deepEqual(sleepsOf(tag), [], "no daemon of the run is left");
      assert.ok(sleepsOf(other).length >= 1, "another run's daemon was not touched");
      // What cleared its environment carries no mark: docs/security.md says so.
      assert.equal(sleepsOf(cleared).length, 1, "a daemon without the mark is not found (the documented limit)");
      // Nothing left to stop: a second pass finds nothing.
      assert.deepEqual(kill(run.state, 1, "left"), { state: "killed", processes: 0 });
      run.session.kill("SIGKILL");
      neighbour.session.kill("SIGKILL");
    } finally {
      for (const t of [tag, other]) spawnSync("pkill", ["-KILL", "-f", `do sleep ${t} &`]);
      for (const t of [tag, other, cleared]) spawnSync("pkill", ["-KILL", "-f", `^sleep ${t}$`]);
    }
  });

  it("mode left with no run record finds nothing to stop", () => {
    const root = scratchDir("killrun-");
    roots.push(root);
    assert.deepEqual(kill(join(root, "missing"), 1, "left"), { state: "none", processes: 0 });
  });
});
