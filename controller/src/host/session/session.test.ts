/**
 * The host conversations, run as tasks, against a real /bin/sh (LocalDialer: the "host" is this machine,
 * each test in its own scratch directory): stopping runs on timeout and before cleanup, the
 * deadline across restarts, and the once-only record's identity.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Reason } from "@capi-remote/shared";
import { scratchDir } from "../../../../test/bed/util.js";
import { LocalDialer } from "../../ssh/fake.js";
import { FairSlots, namespaceOfKey, slotLimits } from "../../ssh/slots.js";
import { type Task, TaskManager } from "../../tasks/taskmanager.js";
import { KILLED_STEP, sshFailure, TIMED_OUT } from "../protocol.js";
import { type BootstrapInput, type HostKind, type HostReport, HostSessions, LANE } from "./session.js";
import { bootstrapInput, testTarget } from "./testing.js";

type TaskState = Task<HostKind> & HostReport;

const target = testTarget("127.0.0.1");

const roots: string[] = [];
after(() => {
  for (const r of roots) {
    for (const pid of sessionMembers(runSid(join(r, "state")))) killQuietly(pid);
    rmSync(r, { recursive: true, force: true });
  }
});

function killQuietly(pid: number) {
  try {
    process.kill(pid, "SIGKILL");
  } catch {}
}

/** The session id the run recorded on the "machine". */
function runSid(state: string): string {
  const f = join(state, "run");
  return existsSync(f) ? (readFileSync(f, "utf8").split(" ")[0] ?? "") : "";
}

/** Live processes whose session is `sid` (zombies excluded). */
function sessionMembers(sid: string): number[] {
  if (!sid) return [];
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    let stat = "";
    try {
      stat = readFileSync(`/proc/${d}/stat`, "utf8");
    } catch {
      continue;
    }
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (f[3] === sid && f[0] !== "Z") out.push(Number(d));
  }
  return out;
}

function scratch() {
  const root = scratchDir("tasks-");
  roots.push(root);
  return { root, state: join(root, "state"), sentinel: join(root, "sentinel") };
}

/** The conversations of `hosts`, run as tasks the way the controller runs them (setup.ts). */
class Tasks {
  readonly tasks: TaskManager<TaskState>;
  constructor(readonly hosts: HostSessions) {
    const slots = new FairSlots(slotLimits({ bootstrap: 10, cleanup: 10, probe: 10, namespaceShare: 1 }));
    this.tasks = new TaskManager<TaskState>({
      acquire: (kind, key, signal) => slots.acquire(LANE[kind as HostKind], namespaceOfKey(key), signal),
      notify: () => {},
      failed: (t, e) => {
        t.failure ??= sshFailure(e);
      },
    });
  }
  startBootstrap(key: string, input: BootstrapInput): TaskState {
    return this.tasks.start(key, "bootstrap", this.hosts.bootstrap(key, input));
  }
  startCleanup(key: string, input: Parameters<HostSessions["cleanup"]>[0]): TaskState {
    return this.tasks.start(key, "cleanup", this.hosts.cleanup(input));
  }
  startKill(key: string, input: Parameters<HostSessions["kill"]>[0]): TaskState {
    return this.tasks.start(key, "kill", this.hosts.kill(input));
  }
  clear(key: string): void {
    this.tasks.clear(key);
  }
  cancel(key: string): void {
    this.tasks.cancel(key);
  }
}

function manager(dialer = new LocalDialer()) {
  return { dialer, tasks: new Tasks(new HostSessions(dialer, (_k, t) => t, { warm: { max: 0, idleMs: 1000 } })) };
}

/** A bootstrap of `runcmd` with its root and state under `s`. */
const input = (s: { root: string; state: string }, runcmd: string[], more: Partial<BootstrapInput> = {}) =>
  bootstrapInput(target, {
    workingDir: s.root,
    data: { value: `#cloud-config\nruncmd: ${JSON.stringify(runcmd)}\n` },
    stateDir: s.state,
    ...more,
  });

async function settled(t: TaskState, ms = 40_000): Promise<TaskState> {
  const end = Date.now() + ms;
  while (t.running && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  assert.equal(t.running, false, "the task ended");
  return t;
}

async function until(what: () => boolean, ms = 20_000) {
  const end = Date.now() + ms;
  while (!what() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  assert.ok(what(), "condition reached in time");
}

describe("host conversations on a real shell", () => {
  it("the bootstrap timeout stops the run's whole process tree (nothing else), records it on the machine, and a later attach reads it", async () => {
    const s = scratch();
    // Another RemoteMachine's run whose state path differs only where a regex dot would match.
    const sibling = join(s.root, "tenant.rm-xzy");
    mkdirSync(sibling);
    const other = spawn("setsid", ["sh", "-c", `sleep 300; : ${sibling}/run.sh`], { stdio: "ignore" });
    try {
      const { tasks } = manager();
      const inp = input(s, [`sleep 300 & sleep 300; touch ${s.root}/after`], { bootstrapTimeoutMs: 2500 });
      const t = await settled(tasks.startBootstrap("t/rm", inp));
      assert.equal(t.failure?.reason, Reason.BootstrapTimedOut);
      assert.equal(t.failure?.terminal, true);
      assert.match(t.failure?.message ?? "", /stopped/);
      assert.equal(t.killed?.state, "killed");
      assert.ok(
        (t.killed?.processes ?? 0) >= 3,
        `the runner, its watchdog and both sleeps (got ${t.killed?.processes})`,
      );
      assert.equal(readFileSync(join(s.state, "exit"), "utf8"), `${TIMED_OUT} ${KILLED_STEP}\n`);
      assert.deepEqual(sessionMembers(runSid(s.state)), [], "no process of the run is left");
      assert.equal(existsSync(join(s.root, "after")), false);
      assert.equal(other.exitCode, null, "the other machine's run lives on");
      // A later attach (the status lost, another replica) reads the recorded outcome.
      tasks.clear("t/rm");
      const again = await settled(tasks.startBootstrap("t/rm", { ...inp, startStamp: inp.stamps[0] }));
      assert.equal(again.failure?.reason, Reason.BootstrapTimedOut);
      assert.equal(inp.stamps.length, 1, "no second start");
    } finally {
      killQuietly(-(other.pid as number));
    }
  });

  it("keeps the deadline across restarts: an attach after the recorded start plus bootstrapSeconds stops the run at once", async () => {
    const s = scratch();
    const { tasks } = manager();
    const inp = input(s, ["sleep 300"], { bootstrapTimeoutMs: 60_000 });
    const first = tasks.startBootstrap("t/rm", inp);
    await until(() => first.step === 1);
    tasks.cancel("t/rm"); // the controller went away; the run goes on
    assert.ok(sessionMembers(runSid(s.state)).length > 0);
    // A new controller: the run took its gate on the machine 100 s ago, the limit is 60 s. The
    // object's annotation says it started just now (edited): the machine's clock decides.
    const hundredAgo = (Date.now() - 100_000) / 1000;
    utimesSync(join(s.state, "started"), hundredAgo, hundredAgo);
    const { tasks: fresh } = manager();
    const t0 = Date.now();
    const t = await settled(fresh.startBootstrap("t/rm", { ...inp, startStamp: new Date().toISOString() }));
    assert.equal(t.failure?.reason, Reason.BootstrapTimedOut);
    assert.ok(Date.now() - t0 < 20_000, "not a fresh 60 s");
    assert.deepEqual(sessionMembers(runSid(s.state)), []);
  });

  it("cleanup during a bootstrap stops the run before any cleanup command, and proves it", async () => {
    const s = scratch();
    const { tasks } = manager();
    const boot = tasks.startBootstrap("t/rm", input(s, ["sleep 3", `touch ${s.root}/joined-old-cluster`]));
    await until(() => boot.step === 1);
    tasks.cancel("t/rm"); // deletion: the SSH session goes, the detached run would not
    const c = await settled(
      tasks.startCleanup("t/rm", {
        target,
        useSudo: false,
        commands: [`test ! -e ${s.root}/joined-old-cluster && echo ran > ${s.root}/cleanup-ran`],
        stateDir: s.state,
        commandTimeoutMs: 10_000,
      }),
    );
    assert.equal(c.killed?.state, "killed");
    assert.equal(c.ok, true, c.failure?.message);
    assert.ok(existsSync(join(s.root, "cleanup-ran")));
    assert.equal(existsSync(s.state), false, "state removed after");
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal(existsSync(join(s.root, "joined-old-cluster")), false, "the old run never finished its steps");
  });

  it("kill with no run takes the gate, so a start that comes late runs nothing", async () => {
    const s = scratch();
    mkdirSync(s.state, { recursive: true });
    const { tasks } = manager();
    const k = await settled(tasks.startKill("t/rm", { target, useSudo: false, stateDir: s.state }));
    assert.equal(k.killed?.state, "none");
    assert.equal(k.ok, true);
    const inp = input(s, [`touch ${s.root}/ran`]);
    const t = await settled(tasks.startBootstrap("t/rm2", inp));
    assert.equal(t.failure?.terminal, true);
    assert.equal(existsSync(join(s.root, "ran")), false);
  });

  it("a run recorded for another object of the same name is never reported as this one's; a moved object (same stamp) finds its run", async () => {
    const s = scratch();
    const { tasks } = manager();
    const mk = (marker: string, more: Partial<BootstrapInput>) =>
      input(s, [`touch ${s.root}/${marker}`, `touch ${s.root}/sentinel-${marker}`], more);
    const a = mk("a", { uid: "uid-a" });
    const first = await settled(tasks.startBootstrap("t/rm", a));
    assert.equal(first.failure?.reason, Reason.BootstrapSentinelMissing);
    // Re-created under the same name (new UID, no start annotation): refused, nothing runs.
    tasks.clear("t/rm");
    const b = await settled(tasks.startBootstrap("t/rm", mk("b", { uid: "uid-b" })));
    assert.equal(b.failure?.reason, Reason.MachineAlreadyBootstrapped);
    assert.equal(b.failure?.terminal, false);
    assert.equal(existsSync(join(s.root, "b")), false);
    // Moved by clusterctl (new UID, the start annotation kept): the same run.
    tasks.clear("t/rm");
    const moved = await settled(tasks.startBootstrap("t/rm", mk("c", { uid: "uid-c", startStamp: a.stamps[0] })));
    assert.equal(moved.failure?.reason, Reason.BootstrapSentinelMissing, "the recorded outcome of a's run");
    assert.equal(existsSync(join(s.root, "c")), false);
  });
});
