import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { planBootstrap } from "./plan.js";
import { renderRunner, SENTINEL_STEP, startCommand, watchCommand } from "./runner.js";

/** Runs a cloud-config through the real runner with /bin/sh, in a scratch directory. */
function runLocally(cloudConfig: string, opts: { commandsAsScript?: boolean } = {}) {
  const root = mkdtempSync(join(tmpdir(), "runner-"));
  const state = join(root, "state");
  const sentinel = join(root, "sentinel");
  const data = cloudConfig.replaceAll("$ROOT", root).replaceAll("$SENTINEL", sentinel);
  const plan = planBootstrap(data, "cloud-config", opts);
  const script = renderRunner(plan, {
    stateDir: state,
    workingDir: join(root, "work"),
    commandTimeoutSeconds: 5,
    owner: "test/rm",
    sentinel,
  });
  const start = (input: string) =>
    spawnSync("sh", ["-c", startCommand(state, Buffer.byteLength(input))], { input })
      .stdout.toString()
      .trim();
  const first = start(script);
  const second = start(script);
  const watched = execFileSync("sh", ["-c", watchCommand(state, 0.05)], { timeout: 20_000 }).toString();
  const read = (f: string) => (existsSync(join(state, f)) ? readFileSync(join(state, f), "utf8") : undefined);
  return { root, first, second, watched, read, exit: watched.trim().split("\n").pop() };
}

const me = `${userInfo().username}`;

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
    assert.equal(r.first, "started");
    assert.equal(r.second, "attached", "a second start attaches instead of running again");
    assert.equal(r.exit, "exit 0 0");
    assert.equal(readFileSync(join(r.root, "order"), "utf8"), `boot\nrun\n${join(r.root, "work")}\nargv ok\n`);
    assert.equal(readFileSync(join(r.root, "etc/app.conf"), "utf8"), "a=1\nb=2\n");
    // As in cloud-init, the appending entry's permissions (default 0644) apply last.
    assert.equal(statSync(join(r.root, "etc/app.conf")).mode & 0o777, 0o644);
    assert.ok(r.read("receipt"));
    // The run took its upload as it was, and left it as run.sh, with no other copy around.
    assert.equal(r.read("run.sh")?.startsWith("#!/bin/sh"), true);
    assert.deepEqual(
      readdirSync(join(r.root, "state")).filter((f) => f.startsWith("run.sh.")),
      [],
    );
    assert.match(r.watched, /^progress 1 7 bootcmd\[0\]$/m);
    assert.match(r.watched, /^progress 7 7 runcmd\[2\]$/m);
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
    const r = runLocally('#cloud-config\nruncmd: ["sleep 30"]\n');
    assert.equal(r.exit, "exit 124 1");
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
  });

  it("a truncated upload (the session cut mid-transfer) never runs and takes no gate", () => {
    const root = mkdtempSync(join(tmpdir(), "runner-"));
    const state = join(root, "state");
    const script = `#!/bin/sh\ntouch ${join(root, "ran")}\n`;
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
    const root = mkdtempSync(join(tmpdir(), "runner-"));
    const state = join(root, "state");
    const script = `#!/bin/sh\nsleep 0.3; echo x >> ${join(root, "ran")}\n`;
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
