/**
 * The followers of a run (L13), against real shells: the `tail` that streams a run's progress to
 * its start-and-follow session, and the watch that follows a run found on the machine. Neither may
 * outlive the run (a session cut and a cleanup that removed the state directory leave nothing to
 * write to them), a progress file truncated or replaced under them must not stop them from
 * reporting the run's end, a follower that comes after the end reports it at once, and a line read
 * in part is printed whole.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { scratchDir } from "../../../test/bed/util.js";
import { planBootstrap } from "../cloudinit/plan.js";
import { KILLED, killRunCommand, parseLine } from "./protocol.js";
import { renderRunner, runInput, startAndFollowCommand, watchCommand } from "./runner.js";

/** The shells the host programs must work under: dash (/bin/sh here) and bash in POSIX mode. */
const SHELLS: [string, string[]][] = [
  ["dash", ["dash", "-c"]],
  ["bash --posix", ["bash", "--posix", "-c"]],
].filter(([, argv]) => spawnSync("sh", ["-c", `command -v ${argv[0]}`]).status === 0) as [string, string[]][];

const roots: string[] = [];
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.pid) killQuietly(-c.pid);
  for (const r of roots) {
    for (const pid of processesOf(r)) killQuietly(pid);
    rmSync(r, { recursive: true, force: true });
  }
});

function killQuietly(pid: number) {
  try {
    process.kill(pid, "SIGKILL");
  } catch {}
}

/** Live processes whose command line names `path` (zombies excluded). */
function processesOf(path: string): number[] {
  return listProcesses(path).map(([pid]) => pid);
}
/** Those processes with their argv. */
function listProcesses(path: string): [number, string[]][] {
  const out: [number, string[]][] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      if (argv.some((a) => a.includes(path)) && stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z")
        out.push([Number(d), argv]);
    } catch {}
  }
  return out;
}

/** A run of `runcmd` (then the sentinel's step) in a scratch directory. */
function scratch(runcmd: (root: string, state: string) => string[]) {
  const root = scratchDir("follow-");
  roots.push(root);
  const state = join(root, "state");
  const sentinel = join(root, "sentinel");
  const steps = [...runcmd(root, state), `touch ${sentinel}`];
  const plan = planBootstrap(`#cloud-config\nruncmd: ${JSON.stringify(steps)}\n`, "cloud-config", {});
  const script = renderRunner(plan, {
    stateDir: state,
    workingDir: root,
    commandTimeoutSeconds: 30,
    owner: "t",
    sentinel,
  });
  const input = runInput.preamble(state, 30, root) + runInput.body(script) + runInput.go;
  return { root, state, input, steps: plan.steps.length };
}

/** A start-and-follow session under `shell`, in a process group of its own; its lines as they come. */
function session(shell: string[], state: string, input: string, env: NodeJS.ProcessEnv = process.env) {
  const [cmd = "sh", ...args] = shell;
  const child = spawn(cmd, [...args, startAndFollowCommand(state)], {
    stdio: ["pipe", "pipe", "ignore"],
    detached: true,
    env,
  });
  children.push(child);
  const lines: string[] = [];
  let buf = "";
  child.stdout?.on("data", (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split("\n");
    buf = parts.pop() ?? "";
    lines.push(...parts);
  });
  child.stdin?.end(input);
  const closed = new Promise<void>((r) => child.on("close", () => r()));
  // The shell itself (its output may stay open while a follower it left holds it).
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  return { child, lines, closed, exited };
}

async function until(what: () => boolean, ms = 20_000, why = "condition") {
  const end = Date.now() + ms;
  while (!what() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  assert.ok(what(), `${why} reached in time`);
}

/** A `tail` process (argv[0] is tail, or a script named tail run by a shell). */
const isTail = ([, argv]: [number, string[]]) => /(^|\/)tail$/.test(argv[0] ?? "") || /\/tail$/.test(argv[1] ?? "");

/** Every line a follower printed is one the controller reads as a whole line of the protocol. */
function assertWholeLines(lines: string[], steps: number) {
  for (const l of lines) {
    if (l === "" || l === "started" || l === "progress started") continue;
    const p = parseLine(l);
    assert.ok(p.kind === "step" || p.kind === "exit", `a line of the protocol: ${JSON.stringify(l)}`);
    if (p.kind === "step") {
      assert.equal(p.steps, steps, `a whole step line: ${JSON.stringify(l)}`);
      assert.ok(p.step >= 1 && p.step <= steps && p.name === `runcmd[${p.step - 1}]`, JSON.stringify(l));
    }
  }
}

/**
 * The session goes (sshd killed, link cut) while the run lives on, detached; then the deletion's
 * cleanup stops the run (proven stopped) and removes the state. Nothing would ever be written to
 * a follower again: every process of the run must end by itself.
 */
async function cutAndClean(shell: string[], f: { child: { pid?: number }; exited: Promise<unknown> }, state: string) {
  process.kill(f.child.pid as number, "SIGKILL");
  await f.exited;
  const k = spawnSync(shell[0] as string, [...shell.slice(1), killRunCommand(state, KILLED, 2)], { timeout: 20_000 });
  assert.match(k.stdout.toString(), /^killed \d+/m);
  rmSync(state, { recursive: true, force: true });
  await until(() => processesOf(state).length === 0, 5000, "no process of the run left");
}

for (const [name, shell] of SHELLS) {
  describe(`run followers under ${name}`, () => {
    it("a session cut mid-run, then a cleanup that removes the state: no follower is left on the machine", async () => {
      const s = scratch(() => ["sleep 300"]);
      const f = session(shell, s.state, s.input);
      await until(() => f.lines.includes("1 2 runcmd[0]") || f.lines.includes("progress 1 2 runcmd[0]"));
      await until(() => listProcesses(s.state).some(isTail), 5000, "the tail follower");
      await cutAndClean(shell, f, s.state);
    });

    it("a progress file truncated and then replaced while the run goes on: the follower still reports the end, in whole lines", async () => {
      const s = scratch((_, state) => [
        "sleep 0.4",
        `: > ${state}/progress`,
        "sleep 0.4",
        `mv ${state}/progress ${state}/progress.old`,
        "sleep 0.4",
      ]);
      const f = session(shell, s.state, s.input);
      await f.closed;
      assert.equal(f.lines[0], "started");
      assert.equal(f.lines.at(-1), "exit 0 0");
      assertWholeLines(f.lines, s.steps);
      // The session's last processes may still be exiting when its output closes.
      await until(() => processesOf(s.state).length === 0, 5000, "no process of the run left");
    });

    it("a follower that comes after the run ended reports its progress and end at once, and exits", () => {
      const s = scratch(() => ["true", "true"]);
      const first = spawnSync(shell[0] as string, [...shell.slice(1), startAndFollowCommand(s.state)], {
        input: s.input,
        timeout: 20_000,
      });
      assert.equal(first.stdout.toString().trim().split("\n").pop(), "exit 0 0");
      // Another session (after a restart): attaches, replays, ends.
      const again = spawnSync(shell[0] as string, [...shell.slice(1), startAndFollowCommand(s.state)], {
        input: s.input,
        timeout: 10_000,
      });
      const lines = again.stdout.toString().trim().split("\n");
      assert.equal(again.status, 0);
      assert.match(lines[0] ?? "", /^attached/);
      assert.deepEqual(lines.slice(1), [
        "progress started",
        "progress 1 3 runcmd[0]",
        "progress 2 3 runcmd[1]",
        "progress 3 3 runcmd[2]",
        "exit 0 0",
      ]);
      // The watch alone (the provision Job's follower) too.
      const w = spawnSync(shell[0] as string, [...shell.slice(1), watchCommand(s.state, 0.05)], { timeout: 10_000 });
      assert.equal(w.status, 0);
      assert.deepEqual(
        w.stdout
          .toString()
          .trim()
          .split("\n")
          .filter((l) => l !== "tick"),
        lines.slice(1),
      );
    });

    it("partial last lines: a line read in part is printed whole, and one never finished is printed alone at the end", async () => {
      const root = scratchDir("follow-");
      roots.push(root);
      const state = join(root, "state");
      mkdirSync(state);
      writeFileSync(join(state, "started"), "uid-a 2026-12-07T00:00:00.000Z\n");
      writeFileSync(join(state, "progress"), "started\n1 3 runc");
      const w = spawn(shell[0] as string, [...shell.slice(1), watchCommand(state, 0.05)], {
        stdio: ["ignore", "pipe", "ignore"],
      });
      children.push(w);
      let out = "";
      w.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      const closed = new Promise<void>((r) => w.on("close", () => r()));
      // The watch has read the part written so far (it polls every 50 ms).
      await until(() => out.includes("progress started\n"));
      await new Promise((r) => setTimeout(r, 300));
      appendFileSync(join(state, "progress"), "md[0]\n2 3 runcmd[1]\n3 3 run");
      await new Promise((r) => setTimeout(r, 300));
      writeFileSync(join(state, "exit"), "1 3\n");
      await closed;
      const lines = out.split("\n").filter((l) => l !== "tick" && l !== "");
      assert.deepEqual(lines, [
        "progress started",
        "progress 1 3 runcmd[0]",
        "progress 2 3 runcmd[1]",
        "progress 3 3 run",
        "exit 1 3",
      ]);
    });

    it("a tail without --pid (busybox): a loop of builtins follows instead, live, and ends with the run", async () => {
      const s = scratch(() => ["sleep 1", "sleep 300"]);
      const bin = join(s.root, "bin");
      mkdirSync(bin);
      // Refuses --pid as busybox's tail does; otherwise the real tail.
      const real = spawnSync("sh", ["-c", "command -v tail"]).stdout.toString().trim();
      writeFileSync(
        join(bin, "tail"),
        `#!/bin/sh\ncase " $* " in *" --pid="*) echo "tail: unrecognized option" >&2; exit 1;; esac\nexec ${real} "$@"\n`,
      );
      chmodSync(join(bin, "tail"), 0o755);
      const f = session(shell, s.state, s.input, { ...process.env, PATH: `${bin}:${process.env.PATH}` });
      // Step 2 is seen while it runs: the follower is live.
      await until(() => f.lines.includes("2 3 runcmd[1]"), 20_000, "step 2 streamed live");
      assert.ok(!f.lines.some((l) => l.startsWith("exit")));
      assert.ok(!listProcesses(s.state).some(isTail), "no tail follows");
      await cutAndClean(shell, f, s.state);
      assert.equal(existsSync(s.state), false);
    });
  });
}
