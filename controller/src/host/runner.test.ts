import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { processesLeft, scratchDir, sleepsOf } from "../../../test/bed/util.js";
import { planBootstrap } from "../cloudinit/plan.js";
import { SENTINEL_STEP } from "./protocol.js";
import {
  RUN_GATE,
  renderRunner,
  runInput,
  startAndFollowCommand,
  startCommand,
  watchCommand,
  watchdogTiming,
} from "./runner.js";

/** The whole input of a start-and-follow session, as the controller sends it. */
const fullInput = (state: string, script: string, limit = 5, workingDir = dirname(state)) =>
  runInput.preamble(state, limit, workingDir) + runInput.body(script) + runInput.go;

/** A scratch directory and the runner of a cloud-config for it (5 s per step). */
function scratchRunner(cloudConfig: (root: string, sentinel: string) => string) {
  const root = scratchDir("runner-");
  const state = join(root, "state");
  const sentinel = join(root, "sentinel");
  const plan = planBootstrap(cloudConfig(root, sentinel), "cloud-config", {});
  const script = renderRunner(plan, {
    stateDir: state,
    workingDir: root,
    commandTimeoutSeconds: 5,
    owner: "t",
    sentinel,
  });
  return { root, state, script };
}

/** Runs a cloud-config through the real runner with /bin/sh, in a scratch directory. */
function runLocally(cloudConfig: string, opts: { commandsAsScript?: boolean; limit?: number } = {}) {
  const root = scratchDir("runner-");
  const state = join(root, "state");
  const sentinel = join(root, "sentinel");
  const data = cloudConfig.replaceAll("$ROOT", root).replaceAll("$SENTINEL", sentinel);
  const plan = planBootstrap(data, "cloud-config", opts);
  const script = renderRunner(plan, {
    stateDir: state,
    workingDir: join(root, "work"),
    commandTimeoutSeconds: opts.limit ?? 5,
    owner: "test/rm",
    sentinel,
  });
  // The session's command: start and follow, in one exec; a second start attaches.
  const follow = (input: string) =>
    spawnSync("sh", ["-c", startAndFollowCommand(state)], {
      input: fullInput(state, input, opts.limit ?? 5, join(root, "work")),
      timeout: 40_000,
    })
      .stdout.toString()
      .trim();
  const watched = follow(script);
  const again = follow(script);
  // The Job's path: start, then a separate watch.
  const watchedAgain = execFileSync("sh", ["-c", watchCommand(state, 0.05)], { timeout: 20_000 }).toString();
  const read = (f: string) => (existsSync(join(state, f)) ? readFileSync(join(state, f), "utf8") : undefined);
  return {
    root,
    first: watched.split("\n")[0],
    second: again.split("\n")[0],
    watched,
    again,
    watchedAgain,
    read,
    exit: watched.split("\n").pop(),
  };
}

const me = `${userInfo().username}`;

/**
 * A step limit whose watchdog period (a tenth of it) no other test process uses at the same time
 * (a concurrent run of this file included), so `sleep <period>` finds only this test's watchdog.
 */
const uniqueLimit = (salt: number) => {
  const period = 1000 + ((process.pid * 7 + salt) % 50000);
  return { limit: period * 10, sleep: `^sleep ${period}$` };
};

describe("bootstrap runner (real /bin/sh)", () => {
  it("runs every step in order, once, and writes a receipt", () => {
    const r = runLocally(`#cloud-config
bootcmd: ["echo boot >> $ROOT/order"]
write_files:
- {path: $ROOT/etc/app.conf, content: "a=1\\n", permissions: "0600", owner: ${me}}
- {path: $ROOT/etc/app.conf, content: "b=2\\n", append: true, owner: ${me}}
- {path: $ROOT/late, content: late, defer: true, owner: ${me}}
runcmd:
- "echo run >> $ROOT/order; pwd >> $ROOT/order"
- [sh, -c, "echo 'argv ok' >> $ROOT/order"]
- "touch $SENTINEL"
`);
    // Seen live through `tail -f`, or, when the run ended before tail printed it (a loaded
    // machine), replayed by the watch: protocol.ts reads both as the start.
    assert.match(r.first ?? "", /^(progress )?started$/);
    assert.equal(r.second, "attached", "a second start attaches instead of running again");
    assert.equal(r.exit, "exit 0 0");
    assert.equal(readFileSync(join(r.root, "order"), "utf8"), `boot\nrun\n${join(r.root, "work")}\nargv ok\n`);
    assert.equal(readFileSync(join(r.root, "etc/app.conf"), "utf8"), "a=1\nb=2\n");
    // As in cloud-init, the appending entry's permissions (default 0644) apply last.
    assert.equal(statSync(join(r.root, "etc/app.conf")).mode & 0o777, 0o644);
    assert.ok(r.read("receipt"));
    // The runner came on the run's input: no copy of it (it holds join tokens) is left on disk.
    assert.deepEqual(
      readdirSync(join(r.root, "state")).filter((f) => f.startsWith("run.sh")),
      [],
    );
    assert.match(r.watched, /^(progress )?1 7 bootcmd\[0\]$/m);
    assert.match(r.watched, /^(progress )?7 7 runcmd\[2\]$/m);
    // Attaching and a separate watch both report the same outcome.
    assert.equal(r.again.split("\n").pop(), "exit 0 0");
    assert.match(r.watchedAgain, /^progress 7 7 runcmd\[2\]$/m);
    assert.equal(r.watchedAgain.trim().split("\n").pop(), "exit 0 0");
  });

  it("runs the steps under umask 022, as cloud-init does, and keeps its own files root's only", () => {
    const r = runLocally(`#cloud-config
write_files:
- {path: $ROOT/made/by/write_files/f, content: "x", permissions: "0640", owner: ${me}}
runcmd:
- "umask > $ROOT/umask; mkdir $ROOT/dir-from-runcmd"
- "touch $SENTINEL"
`);
    assert.equal(r.exit, "exit 0 0");
    assert.equal(readFileSync(join(r.root, "umask"), "utf8").trim(), "0022");
    assert.equal(statSync(join(r.root, "dir-from-runcmd")).mode & 0o777, 0o755);
    assert.equal(statSync(join(r.root, "made/by/write_files")).mode & 0o777, 0o755);
    assert.equal(statSync(join(r.root, "made/by/write_files/f")).mode & 0o777, 0o640);
    // The state directory and what holds the bootstrap data (script, output) are not readable by others.
    assert.equal(statSync(join(r.root, "state")).mode & 0o077, 0);
    assert.equal(statSync(join(r.root, "state/progress")).mode & 0o077, 0);
    // The working directory, made by the session's preamble, as the steps' umask makes it.
    assert.equal(statSync(join(r.root, "work")).mode & 0o777, 0o755);
    // After a success the output (a step may print a token) is gone (L4).
    assert.equal(existsSync(join(r.root, "state/output.log")), false);
  });

  it("after a success no file of the run holds the data; after a failure its output stays root's only (L4)", () => {
    const token = "RunnerL4Token-5f0c2e9a71";
    const data = `#cloud-config
write_files:
- {path: $ROOT/written, content: "${token}"}
runcmd:
- "echo ${token}; echo ${token} >&2"
- [sh, -c, "echo ${token}"]
- "touch $SENTINEL"
`;
    const ok = runLocally(data);
    assert.equal(ok.exit, "exit 0 0");
    const holding = (root: string) =>
      spawnSync("grep", ["-rl", token, root]).stdout.toString().trim().split("\n").filter(Boolean);
    // Only the file the data itself asked for.
    assert.deepEqual(holding(ok.root), [join(ok.root, "written")]);
    const failed = runLocally(data.replace('"touch $SENTINEL"', '"exit 7"'));
    assert.equal(failed.exit, "exit 7 4");
    assert.deepEqual(holding(failed.root).sort(), [
      join(failed.root, "state/output.log"),
      join(failed.root, "written"),
    ]);
    assert.equal(statSync(join(failed.root, "state/output.log")).mode & 0o077, 0);
  });

  it("writes files byte for byte with their modes, text through the shell and binary through base64", () => {
    const binary = Buffer.from([0, 1, 2, 255, 10, 0]).toString("base64");
    const quoted = `it's $HOME \\ %s "q"\n`;
    // YAML takes JSON: every value spelled exactly.
    const files = [
      { path: "$ROOT/w/quotes", content: quoted, permissions: "0644" },
      { path: "$ROOT/w/secret", content: "token", permissions: "0600" },
      { path: "$ROOT/w/tool.sh", content: "#!/bin/sh\necho ok\n", permissions: "0755" },
      { path: "$ROOT/w/blob", content: binary, encoding: "b64", permissions: "0640" },
    ];
    const r = runLocally(
      `#cloud-config\nwrite_files: ${JSON.stringify(files)}\nruncmd: ["$ROOT/w/tool.sh > $ROOT/w/out", "touch $SENTINEL"]\n`,
    );
    assert.equal(r.exit, "exit 0 0");
    const w = (f: string) => join(r.root, "w", f);
    assert.equal(readFileSync(w("quotes"), "utf8"), quoted);
    assert.equal(readFileSync(w("secret"), "utf8"), "token");
    assert.deepEqual(readFileSync(w("blob")), Buffer.from(binary, "base64"));
    assert.equal(readFileSync(w("out"), "utf8"), "ok\n");
    const mode = (f: string) => (statSync(w(f)).mode & 0o777).toString(8);
    assert.deepEqual([mode("quotes"), mode("secret"), mode("tool.sh"), mode("blob")], ["644", "600", "755", "640"]);
    assert.deepEqual(readdirSync(join(r.root, "w")).sort(), ["blob", "out", "quotes", "secret", "tool.sh"]);
  });

  it("replaces existing files through a temporary name (never new content under an old mode) and never writes through a symlink", () => {
    const files = [
      { path: "$ROOT/w/secret", content: "token", permissions: "0600" },
      { path: "$ROOT/w/link", content: "x", permissions: "0644" },
      { path: "$ROOT/w/new", content: "n", permissions: "0640" },
    ];
    const r = runLocally(
      `#cloud-config\nbootcmd: ["mkdir -p $ROOT/w && echo old > $ROOT/w/secret && chmod 0644 $ROOT/w/secret && ln -s $ROOT/elsewhere $ROOT/w/link"]\nwrite_files: ${JSON.stringify(files)}\nruncmd: ["touch $SENTINEL"]\n`,
    );
    assert.equal(r.exit, "exit 0 0");
    const w = (f: string) => join(r.root, "w", f);
    const mode = (f: string) => (statSync(w(f)).mode & 0o777).toString(8);
    assert.equal(readFileSync(w("secret"), "utf8"), "token");
    assert.equal(mode("secret"), "600");
    assert.equal(lstatSync(w("link")).isSymbolicLink(), false, "the symlink was replaced, not followed");
    assert.equal(readFileSync(w("link"), "utf8"), "x");
    assert.equal(existsSync(join(r.root, "elsewhere")), false);
    assert.equal(mode("new"), "640");
    assert.deepEqual(readdirSync(join(r.root, "w")).sort(), ["link", "new", "secret"], "no temporary file left");
  });

  it("a run that loses the gate removes its own upload and exits cleanly, running nothing", () => {
    const root = scratchDir("runner-");
    const state = join(root, "state");
    const upload = join(state, "run.sh.abc");
    const script = `#!/bin/sh\nS=${state}\n${RUN_GATE}\ntouch ${join(root, "ran")}\n`;
    execFileSync("sh", ["-c", `mkdir -p ${state} && : > ${state}/started && cat > ${upload}`], { input: script });
    const r = spawnSync("sh", [upload]);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(existsSync(join(root, "ran")), false, "nothing ran");
    assert.equal(existsSync(upload), false, "the loser's upload is gone");
  });

  it("start-and-follow: the run waits for `cr_main` (sent once the start is recorded); without it nothing runs and nothing is left", async () => {
    const root = scratchDir("runner-");
    const state = join(root, "state");
    const script = `#!/bin/sh\nS=${state}\n${RUN_GATE}\ntouch ${join(root, "ran")}\nmkdir -p $(dirname $S)\necho "0 0" > $S/exit\n`;
    const child = spawn("sh", ["-c", startAndFollowCommand(state)], { stdio: ["pipe", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    // As a warm connection sends it when it opens: the preamble, which starts the watchdog.
    const wd = uniqueLimit(1);
    child.stdin.write(runInput.preamble(state, wd.limit, root));
    // Before any data: the detached run, its watchdog and the progress stream are already
    // waiting (a warm connection starts them while the machine waits for its bootstrap data).
    await new Promise((r) => setTimeout(r, 400));
    const waiting = spawnSync("pgrep", ["-af", state]).stdout.toString();
    assert.match(waiting, /sh -s \S+\/run\.sh/, "the run waits for its input");
    assert.match(waiting, /tail -n \+1 -F --pid=\d+/, "the progress stream waits (and ends with the run)");
    const runPid = /^(\d+) sh -s /m.exec(waiting)?.[1];
    const watchdog = spawnSync("pgrep", ["-P", String(runPid)])
      .stdout.toString()
      .trim();
    assert.notEqual(watchdog, "", "the watchdog waits with it");
    // The data: the runner arrives as a function, parsed and not run; no process starts.
    child.stdin.write(runInput.body(script));
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(
      spawnSync("pgrep", ["-P", String(runPid)])
        .stdout.toString()
        .trim(),
      watchdog,
      "no process started for the data",
    );
    assert.equal(existsSync(join(state, "started")), false);
    assert.equal(existsSync(join(root, "ran")), false);
    assert.equal(out, "");
    // The session ends without `cr_main` (the record failed, the controller died): the run ends.
    const closed = new Promise((r) => child.on("close", r));
    child.stdin.end();
    await closed;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(existsSync(join(state, "started")), false, "no gate");
    assert.equal(existsSync(join(root, "ran")), false, "nothing ran");
    assert.deepEqual(processesLeft(state), [], "no process of this start is left");
    assert.deepEqual(processesLeft(wd.sleep), [], "the watchdog's sleep is gone");
    // The next start, with `cr_main`, runs it once.
    const again = spawnSync("sh", ["-c", startAndFollowCommand(state)], {
      input: fullInput(state, script),
      timeout: 20_000,
    });
    // Live through `tail -f`, or replayed by the watch when tail polls and the run was quick (after
    // the empty line that ends whatever the follower printed).
    const first = again.stdout
      .toString()
      .split("\n")
      .find((l) => l !== "");
    assert.match(first ?? "", /^(?:progress )?started$/, again.stdout.toString());
    assert.equal(existsSync(join(root, "ran")), true);
  });

  it("start-and-follow: an upload cut anywhere runs nothing, takes no gate and leaves no process", () => {
    // A real runner with files (text, and base64 in a here-document), braces in the data, and
    // commands in both forms.
    const { root, state, script } = scratchRunner(
      (root, sentinel) => `#cloud-config
write_files:
- {path: ${root}/f1, content: "a } b\\n}\\n"}
- {path: ${root}/f2, content: "AAEC/w==", encoding: b64}
bootcmd: ["echo '}' >> ${root}/ran"]
runcmd: ["touch ${root}/ran", [touch, "${root}/ran2"], "touch ${sentinel}"]
`,
    );
    const body = runInput.body(script);
    const pre = runInput.preamble(state, 5, root);
    // Cut after every 1/60th of the function (and just before its last byte), followed by the
    // end of the input, as when the session is cut: `cr_main` only ever follows the whole.
    const cuts = new Set([
      ...Array.from({ length: 60 }, (_, i) => Math.floor((body.length * i) / 60)),
      body.length - 1,
    ]);
    for (const at of cuts) {
      const r = spawnSync("sh", ["-c", startAndFollowCommand(state)], {
        input: pre + body.slice(0, at),
        timeout: 20_000,
      });
      assert.doesNotMatch(r.stdout.toString(), /started/, `cut at ${at}`);
      assert.equal(existsSync(join(state, "started")), false, `no gate (cut at ${at})`);
      assert.equal(
        existsSync(join(root, "ran")) || existsSync(join(root, "ran2")),
        false,
        `nothing ran (cut at ${at})`,
      );
    }
    // The whole function without `cr_main`: parsed, never run.
    spawnSync("sh", ["-c", startAndFollowCommand(state)], { input: pre + body, timeout: 20_000 });
    assert.equal(existsSync(join(state, "started")), false);
    assert.deepEqual(processesLeft(state), [], "no process left");
    // And whole, with it: runs once.
    const ok = spawnSync("sh", ["-c", startAndFollowCommand(state)], {
      input: pre + body + runInput.go,
      timeout: 20_000,
    });
    assert.match(ok.stdout.toString(), /exit 0 0/);
    assert.equal(readFileSync(join(root, "f1"), "utf8"), "a } b\n}\n");
    assert.equal(readFileSync(join(root, "ran"), "utf8"), "}\n");
  });

  it("start-and-follow streams progress while the run lasts, without polling", () => {
    const { state, script } = scratchRunner(
      (_, sentinel) => `#cloud-config\nruncmd: ["sleep 1", "sleep 1", "touch ${sentinel}"]\n`,
    );
    const t0 = Date.now();
    const lines: [number, string][] = [];
    const child = spawn("sh", ["-c", startAndFollowCommand(state)]);
    child.stdin.end(fullInput(state, script));
    let buf = "";
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split("\n");
      buf = parts.pop() ?? "";
      for (const l of parts) lines.push([Date.now() - t0, l]);
    });
    return new Promise<void>((resolve, reject) => {
      child.on("close", () => {
        try {
          const at = (re: RegExp) => lines.find(([, l]) => re.test(l))?.[0] ?? Number.NaN;
          assert.match(lines.find(([, l]) => l !== "")?.[1] ?? "", /^(?:progress )?started$/, JSON.stringify(lines));
          // Step 2 is reported while step 1's second is still being waited out, not at the end.
          assert.ok(at(/^(progress )?2 3 /) < at(/^exit /) - 500, JSON.stringify(lines));
          assert.equal(lines.at(-1)?.[1], "exit 0 0");
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
  });

  it("a step name with backslashes reaches the progress stream as written: one line, nothing injected (L1)", () => {
    // The path holds a backslash and an n, not a newline: dash's echo would have printed a line
    // break and made `exit 0 0` a line of its own.
    const r = runLocally(`#cloud-config
write_files:
- {path: '$ROOT/x\\nexit 0 0', content: x, owner: ${me}}
runcmd:
- "touch $SENTINEL"
`);
    assert.equal(r.exit, "exit 0 0");
    const progress = r.read("progress") ?? "";
    assert.ok(progress.includes(`1 2 write_files[0] ${r.root}/x\\nexit 0 0\n`), progress);
    assert.deepEqual(
      r.watchedAgain
        .trim()
        .split("\n")
        .filter((l) => l.startsWith("exit")),
      ["exit 0 0"],
    );
    assert.ok(existsSync(join(r.root, "x\\nexit 0 0")));
  });

  it("stops at the first failing step and names it", () => {
    const r = runLocally(`#cloud-config
runcmd: ["true", "exit 3", "touch $ROOT/never"]
`);
    assert.equal(r.exit, "exit 3 2");
    assert.equal(existsSync(join(r.root, "never")), false);
    assert.equal(r.read("receipt"), undefined);
    assert.match(r.read("output.log") ?? "", /step 2 failed with exit code 3/);
  });

  it("fails when the sentinel is missing", () => {
    const r = runLocally('#cloud-config\nruncmd: ["true"]\n');
    assert.equal(r.exit, `exit 1 ${SENTINEL_STEP}`);
  });

  it("kills a step that overruns its timeout", () => {
    const t0 = Date.now();
    const r = runLocally('#cloud-config\nruncmd: ["sleep 30"]\n');
    assert.equal(r.exit, "exit 124 1");
    // The limit is 5 s; the watchdog wakes every second.
    const took = Date.now() - t0;
    assert.ok(took >= 5_000 && took < 12_000, `took ${took} ms`);
    assert.match(r.read("output.log") ?? "", /step 1 ran over its 5 s and was stopped/);
  });

  it("a timed-out step dies with its descendants; what earlier steps left in the background lives on", () => {
    const tag = `${process.pid}${Date.now() % 100000}`;
    try {
      const r = runLocally(
        `#cloud-config
runcmd:
- "sleep 7${tag} >/dev/null 2>&1 &"
- "sh -c 'sleep 8${tag}; echo survived >> $ROOT/late'; echo survived >> $ROOT/late"
`,
        { limit: 2 },
      );
      assert.equal(r.exit, "exit 124 2");
      assert.deepEqual(processesLeft(`^sleep 8${tag}$`), [], "the step's grandchild was killed");
      assert.equal(existsSync(join(r.root, "late")), false);
      assert.equal(sleepsOf(`7${tag}`).length, 1, "the first step's background process was left alone");
    } finally {
      spawnSync("pkill", ["-f", `^sleep [78]${tag}$`]);
    }
  });

  it("a timed-out step that keeps forking leaves no child behind (the tree is frozen before the kill)", () => {
    // A walk of /proc races with fork: a child made behind the walk, orphaned when its parent
    // dies of the TERM, escapes an unfrozen kill, and a walk slower than the forks never ends. A
    // step forking every 20 ms hits both.
    const tag = `${process.pid}${Date.now() % 100000}`;
    try {
      // Bounded (500 forks), so a watchdog that never ends the step still lets the test end.
      const loop = `i=0; while [ $i -lt 500 ]; do sleep 9${tag} & sleep 0.02; i=$((i + 1)); done`;
      const r = runLocally(`#cloud-config\nruncmd: ["${loop}"]\n`, { limit: 2 });
      assert.equal(r.exit, "exit 124 1");
      assert.deepEqual(processesLeft(`^sleep 9${tag}$`), [], "no child of the step lives on");
    } finally {
      spawnSync("pkill", ["-f", `^sleep 9${tag}$`]);
    }
  });

  it("a write_files path that blocks (a FIFO, as a hung mount would) is ended at the step's limit and named", () => {
    // The FIFO is made where the file goes: opening it for writing waits for a reader forever.
    const root = scratchDir("runner-fifo-");
    execFileSync("mkfifo", [join(root, "fifo")]);
    const t0 = Date.now();
    const r = runLocally(
      `#cloud-config
write_files:
- path: ${root}/fifo
  content: hello
- path: ${root}/binary
  encoding: b64
  content: AAEC
  permissions: "0600"
runcmd: ["touch $ROOT/never"]
`,
      { limit: 2 },
    );
    const took = Date.now() - t0;
    assert.equal(r.exit, "exit 124 1", "step 1 (the FIFO) timed out");
    assert.ok(took >= 2_000 && took < 15_000, `ended by the 2 s step limit, took ${took} ms`);
    assert.match(r.read("output.log") ?? "", /step 1 ran over its 2 s and was stopped/);
    assert.equal(existsSync(join(r.root, "never")), false, "nothing after it ran");
    assert.equal(existsSync(join(root, "binary")), false);
    // Each kind of file write (text through printf, binary through base64 with chmod) still works.
    const ok = runLocally(`#cloud-config
write_files:
- {path: $ROOT/a/text, content: "hi\\n"}
- {path: $ROOT/a/bin, encoding: b64, content: AAEC, permissions: "0600", append: true}
runcmd: ["touch $SENTINEL"]
`);
    assert.equal(ok.exit, "exit 0 0");
    assert.equal(readFileSync(join(ok.root, "a/text"), "utf8"), "hi\n");
    assert.deepEqual([...readFileSync(join(ok.root, "a/bin"))], [0, 1, 2]);
    assert.equal(statSync(join(ok.root, "a/bin")).mode & 0o777, 0o600);
    for (const dir of [root, r.root, ok.root]) rmSync(dir, { recursive: true, force: true });
  });

  it("a step that ignores TERM is killed 10 s later", () => {
    const t0 = Date.now();
    const r = runLocally(`#cloud-config\nruncmd: ["trap '' TERM; sleep 60; echo no >> $ROOT/late"]\n`, { limit: 1 });
    assert.equal(r.exit, "exit 124 1");
    const took = Date.now() - t0;
    assert.ok(took >= 11_000 && took < 25_000, `took ${took} ms`);
    assert.equal(existsSync(join(r.root, "late")), false);
  });

  it("steps run in a shell as clean as cloud-init's: no runner variables or functions", () => {
    const r = runLocally(`#cloud-config
runcmd:
- 'echo "[$S][$n][$go][$cr_f][$cr_wd]" >> $ROOT/env; for f in begin fail finish cr_step cr_freeze cr_alive cr_watch; do command -v $f >> $ROOT/env; done; true'
- [sh, -c, 'echo "argv [$S]" >> $ROOT/env']
- "touch $SENTINEL"
`);
    assert.equal(r.exit, "exit 0 0");
    assert.equal(readFileSync(join(r.root, "env"), "utf8"), "[][][][][]\nargv []\n");
  });

  it("the watchdog ends with the run: no sleep left behind", () => {
    const wd = uniqueLimit(2);
    const r = runLocally('#cloud-config\nruncmd: ["touch $SENTINEL"]\n', { limit: wd.limit });
    assert.equal(r.exit, "exit 0 0");
    // The run kills it on its way out; a loaded machine may take a moment to reap it.
    assert.deepEqual(processesLeft(wd.sleep), [], "no watchdog sleep left");
  });

  it("watchdog timing: a step is killed after its limit, and before two periods (a tenth each, or a second) more", () => {
    for (let limit = 1; limit <= 86400; limit += limit < 200 ? 1 : 997) {
      const { period, periods } = watchdogTiming(limit);
      // Seen running at periods + 1 wake-ups in a row: it ran at least periods x period, and
      // less than (periods + 1) x period.
      assert.ok(period * periods >= limit, `${limit}: ${period} x ${periods}`);
      assert.ok(period * (periods + 1) < limit + 2 * period, `${limit}: ${period} x ${periods}`);
      assert.equal(period, Math.max(1, Math.ceil(limit / 10)), `${limit}`);
    }
    assert.deepEqual(watchdogTiming(1800), { period: 180, periods: 10 });
  });

  it("runs commandsAsScript as one script with set -e", () => {
    const r = runLocally(
      `#cloud-config
runcmd: ["echo one >> $ROOT/s", "false", "echo never >> $ROOT/s"]
`,
      { commandsAsScript: true },
    );
    assert.equal(r.exit, "exit 1 1");
    assert.equal(readFileSync(join(r.root, "s"), "utf8"), "one\n");
    // The script (it may hold a join token) is gone once its step ended, failed or not (L4).
    assert.deepEqual(
      readdirSync(join(r.root, "state")).filter((f) => f.startsWith("step-")),
      [],
    );
    const ok = runLocally('#cloud-config\nruncmd: ["echo TOKEN-L4 > /dev/null", "touch $SENTINEL"]\n', {
      commandsAsScript: true,
    });
    assert.equal(ok.exit, "exit 0 0");
    assert.deepEqual(
      readdirSync(join(ok.root, "state")).filter((f) => f.startsWith("step-")),
      [],
    );
  });

  it("a truncated upload (the session cut mid-transfer) never runs and takes no gate", () => {
    const root = scratchDir("runner-");
    const state = join(root, "state");
    const script = `#!/bin/sh\nS=${state}\n${RUN_GATE}\ntouch ${join(root, "ran")}\n`;
    // The session delivers only part of the script (its declared length is the whole).
    const cut = spawnSync("sh", ["-c", startCommand(state, Buffer.byteLength(script))], {
      input: script.slice(0, 12),
    });
    assert.notEqual(cut.status, 0);
    assert.equal(cut.stdout.toString().trim(), "truncated");
    assert.equal(existsSync(join(state, "started")), false, "no gate without a run");
    assert.equal(existsSync(join(root, "ran")), false);
    // The next attempt starts it, once.
    const again = spawnSync("sh", ["-c", startCommand(state, Buffer.byteLength(script))], { input: script });
    assert.equal(again.stdout.toString().trim(), "started");
    for (let i = 0; i < 100 && !existsSync(join(root, "ran")); i++) spawnSync("sleep", ["0.05"]);
    assert.equal(existsSync(join(root, "ran")), true);
    const third = spawnSync("sh", ["-c", startCommand(state, Buffer.byteLength(script))], { input: script });
    assert.equal(third.stdout.toString().trim(), "attached");
    // The cut upload was removed; what is left is the one that ran (a rendered runner renames
    // it run.sh when it finishes; this bare script does not).
    const uploads = readdirSync(state).filter((f) => f.startsWith("run.sh."));
    assert.equal(uploads.length, 1, `uploads left: ${uploads.join(", ")}`);
    assert.equal(readFileSync(join(state, uploads[0] as string), "utf8"), script);
  });

  it("the gate is taken by the detached runner: killing the starting session right after cannot lose the run", () => {
    const root = scratchDir("runner-");
    const state = join(root, "state");
    const script = `#!/bin/sh\nS=${state}\n${RUN_GATE}\nsleep 0.3; echo x >> ${join(root, "ran")}\n`;
    // SIGKILL the starting session's whole process group as soon as it is done, as sshd does
    // with a session whose client vanished: the run goes on without it.
    // setsid: its own process group, so that `kill -9 0` hits the session and not this runner.
    const r = spawnSync("setsid", ["sh", "-c", `${startCommand(state, Buffer.byteLength(script))}\nkill -9 0`], {
      input: script,
    });
    assert.equal(r.signal, "SIGKILL", "the starting session was killed");
    assert.equal(r.stdout.toString().trim(), "started");
    for (let i = 0; i < 100 && !existsSync(join(root, "ran")); i++) spawnSync("sleep", ["0.05"]);
    assert.equal(readFileSync(join(root, "ran"), "utf8"), "x\n");
  });
});
