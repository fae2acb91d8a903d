/**
 * Renders a plan into the shell script that runs the bootstrap on the machine, detached from the
 * SSH session, and the commands that start it once and observe it (scripts/*.sh filled in). Pure
 * text generation; the state files and the lines these programs print are protocol.ts's.
 */
import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import { type Plan, type Step, shq } from "../cloudinit/plan.js";
import { identityWords, type RunIdentity, SENTINEL, SENTINEL_STEP, TIMED_OUT } from "./protocol.js";
import { fill, raw } from "./scripts.js";

export interface RunnerOptions {
  /** Where the RemoteMachine's state lives on the machine. */
  stateDir: string;
  /** Working directory for the steps (k0smotron's workingDir). */
  workingDir: string;
  /** Seconds one step may take before it is killed. */
  commandTimeoutSeconds: number;
  /** Shown in the script's header, for whoever reads it on the machine. */
  owner: string;
  /** The file whose presence proves success (Cluster API's sentinel unless a test moves it). */
  sentinel?: string;
  /** Who the run is for, recorded in its gate (protocol.ts sameRun); none in tests of the runner alone. */
  identity?: RunIdentity;
}

/** The once-only gate, the first line a run executes (scripts/gate.sh). */
export const RUN_GATE = fill("gate");

function stepLines(step: Step, i: number, n: number, opts: RunnerOptions, eof: string): string[] {
  const head = [`begin ${i} ${n} ${shq(step.name.replace(/[\r\n]/g, " "))}`];
  switch (step.kind) {
    case "command":
      // In a subshell of the runner, as cloud-init's runcmd script runs its lines in one shell:
      // a fork, where `timeout` and `sh -c` were two programs started per step (each start
      // costs milliseconds of CPU, and many machines may share a host). `cr_step` leaves the
      // subshell as clean as a new shell's (no runner variables or functions); the run's
      // watchdog enforces the step's time limit.
      return [
        ...head,
        step.argv
          ? `( cr_step ${i}; unset -f cr_step; exec ${step.argv.map(shq).join(" ")} ) || fail $? ${i}`
          : `( cr_step ${i}; unset -f cr_step; eval ${shq(step.shell ?? "")} ) || fail $? ${i}`,
      ];
    case "script": {
      const path = shq(`${opts.stateDir}/step-${i}.sh`);
      return [
        ...head,
        // Written under umask 077 (it may hold secrets), run under the steps' 022.
        `umask 077; base64 -d > ${path} <<'${eof}'`,
        Buffer.from(step.body)
          .toString("base64")
          .replace(/(.{76})/g, "$1\n"),
        eof,
        `umask 022; chmod 0700 ${path}`,
        // A "#!" line picks the interpreter (the kernel reads it); without one, sh runs it.
        `cr_l=; { IFS= read -r cr_l || :; } < ${path}`,
        `case "$cr_l" in '#!'*) ( cr_step ${i}; unset -f cr_step; exec ${path} ) ;; *) ( cr_step ${i}; unset -f cr_step; exec sh ${path} ) ;; esac; cr_rc=$?`,
        // The script may hold secrets (a join token): it does not outlive its step (L4).
        `rm -f ${path}; [ "$cr_rc" = 0 ] || fail "$cr_rc" ${i}`,
      ];
    }
    case "file": {
      const p = shq(step.path);
      const dir = shq(posix.dirname(step.path));
      const mode = Number.parseInt(step.permissions, 8);
      // Each process started on the machine costs milliseconds of CPU (many machines may share
      // a host): the content is written with the shell's printf builtin when it is text, the
      // permissions come from the umask when they can (read/write bits only), and the owner is
      // changed only when it is not root's (the runner runs as root).
      const text = isShellSafe(step.contentB64);
      // The command (its `|| fail` on the same line) and, for base64, the here-document after it.
      const write = (umask: string, target: string, append: boolean) => {
        const to = `${append ? ">>" : ">"} ${target}`;
        return text !== undefined
          ? [`umask ${umask}; printf '%s' ${shq(text)} ${to} || exit $?`]
          : [`umask ${umask}; base64 -d ${to} <<'${eof}' || exit $?`, step.contentB64.replace(/(.{76})/g, "$1\n"), eof];
      };
      const viaUmask = !step.append && Number.isFinite(mode) && (mode & 0o7111) === 0;
      const umask = viaUmask ? (0o777 & ~mode).toString(8).padStart(3, "0") : "077";
      const rootOwned = /^root(:root)?$/.test(step.owner.trim());
      // A name of this run's own: a leftover of a run cut short never lends its mode to this one.
      const tmp = shq(`${step.path}.capi-remote-${eof.slice(-12)}`);
      const fix = (f: string) => [
        ...(viaUmask ? [] : [`chmod ${step.permissions} ${f} || exit $?`]),
        ...(rootOwned ? [] : [`chown ${shq(step.owner)} ${f} || exit $?`]),
      ];
      // In a subshell of the runner that says which step it is (cr_step), as commands run: a
      // path that blocks (a FIFO, a hung mount) is then ended by the watchdog at the step's time
      // limit instead of holding the run until the whole bootstrap's. A fork, no new program.
      return [
        ...head,
        `( cr_step ${i}; unset -f cr_step`,
        // Parent directories as cloud-init makes them (umask 022); the content is written under
        // the file's own umask (077 when its mode needs chmod: it may hold secrets) and gets its
        // permissions before it takes the file's name.
        `[ -d ${dir} ] || mkdir -p ${dir} || exit $?`,
        ...(step.append
          ? [...write("077", p, true), "umask 022", ...fix(p)]
          : viaUmask && rootOwned
            ? [
                // Nothing to fix after the write: a file that does not exist yet (the usual
                // case on a fresh machine) is created under its name at once, exclusively
                // (noclobber: O_EXCL, which also refuses a symlink planted there) and with its
                // mode from the umask; one that exists is replaced through the temporary name,
                // so it never shows new content under an old mode. One process fewer per file.
                `umask ${umask}; set -C; if { true > ${p}; } 2>/dev/null; then cr_f=${p}; else cr_f=${tmp}; fi; set +C`,
                ...write(umask, '"$cr_f"', false),
                "umask 022",
                `[ "$cr_f" = ${p} ] || mv -f ${tmp} ${p} || exit $?`,
              ]
            : [...write(umask, tmp, false), "umask 022", ...fix(tmp), `mv -f ${tmp} ${p} || exit $?`]),
        `) || fail $? ${i}`,
      ];
    }
  }
}

/**
 * The content of a file as text the shell can carry in single quotes (no NUL bytes, valid
 * UTF-8, at most 64 KiB), or undefined when it must travel as base64.
 */
function isShellSafe(contentB64: string): string | undefined {
  const buf = Buffer.from(contentB64, "base64");
  if (buf.length > 65_536 || buf.includes(0)) return undefined;
  const text = buf.toString("utf8");
  return Buffer.from(text, "utf8").equals(buf) ? text : undefined;
}

/**
 * The watchdog's wake-up period and how many periods a step may span: it wakes every `period`
 * seconds (a tenth of the limit, at least a second) and kills the step it has seen running at
 * `periods + 1` wake-ups in a row, so a step is killed once it has run at least its limit and
 * before it has run two periods more (exactly one more when the limit is a multiple of ten:
 * the default 1800 s is enforced between 1800 and 1980 s).
 */
export function watchdogTiming(limitSeconds: number): { period: number; periods: number } {
  const period = Math.max(1, Math.ceil(limitSeconds / 10));
  return { period, periods: Math.ceil(limitSeconds / period) };
}

/** The run's shell functions for its steps' time limits (scripts/watchdog.sh). */
function watchdog(limitSeconds: number): string {
  const { period, periods } = watchdogTiming(limitSeconds);
  return fill("watchdog", { PERIOD: period, PERIODS: periods });
}

/** The runner script for a plan (scripts/runner.sh around the rendered steps). */
export function renderRunner(plan: Plan, opts: RunnerOptions): string {
  const eof = `CAPI_REMOTE_EOF_${randomBytes(6).toString("hex")}`;
  const n = plan.steps.length;
  const watched = plan.steps.some((s) => s.kind !== "file");
  return [
    "#!/bin/sh",
    `# capi-remote bootstrap of ${opts.owner}. Started once; never run again by capi-remote.`,
    fill("runner", {
      S: opts.stateDir,
      W: opts.workingDir,
      LIMIT: opts.commandTimeoutSeconds,
      SENTINEL: opts.sentinel ?? SENTINEL,
      ID: opts.identity ? identityWords(opts.identity) : "",
      SENTINEL_STEP: raw(String(SENTINEL_STEP)),
      TIMED_OUT: TIMED_OUT,
      GATE: raw(RUN_GATE),
      WATCHDOG: raw(watchdog(opts.commandTimeoutSeconds)),
      WATCHDOG_START: raw(watched ? fill("watchdog-start") : ""),
      STEPS: raw(plan.steps.flatMap((s, i) => stepLines(s, i + 1, n, opts, eof)).join("\n")),
    }),
    "",
  ].join("\n");
}

/** The state directory, made when missing, its root made root's only (scripts/state-dir.sh). */
const makeStateDir = (S: string) => raw(fill("state-dir", { S, ROOT: posix.dirname(S) }));

/**
 * The provision Job's start (scripts/start.sh): starts the runner read from stdin (`scriptBytes`
 * long) unless a run for this state directory was ever started; prints "started" or "attached".
 */
export function startCommand(stateDir: string, scriptBytes: number): string {
  return fill("start", {
    S: stateDir,
    STATE_DIR: makeStateDir(stateDir),
    BYTES: scriptBytes,
    // A file of its own per start: a cut session never truncates another's upload.
    NONCE: raw(randomBytes(6).toString("hex")),
  });
}

/**
 * The command a bootstrap session runs (scripts/start-and-follow.sh): starts the runner that comes
 * on its input (runInput) unless a run was ever started, then follows the run to its end.
 */
export function startAndFollowCommand(stateDir: string): string {
  return fill("start-and-follow", {
    S: stateDir,
    STATE_DIR: makeStateDir(stateDir),
    WATCH: raw(watchCommand(stateDir)),
  });
}

/** What a bootstrap session sends on startAndFollowCommand's input, in this order. */
export const runInput = {
  /**
   * Sent as the session opens: the state directory, the steps' working directory (made if
   * missing, as the runner would, under the steps' umask), and the watchdog of the steps' time
   * limit. For a warm connection this happens while the machine waits for its data, so that the
   * start needs no process for them. The watchdog stops when the run's shell exits.
   */
  preamble(stateDir: string, commandTimeoutSeconds: number, workingDir: string): string {
    return `${fill("preamble", {
      S: stateDir,
      W: workingDir,
      WATCHDOG: raw(watchdog(commandTimeoutSeconds)),
      WATCHDOG_START: raw(fill("watchdog-start")),
    })}\n`;
  },
  /** The runner, as a function the shell parses without running it. */
  body(runner: string): string {
    return `cr_main() {\n${runner}\n}\n`;
  },
  /** Sent once the start is recorded: runs it. */
  go: "cr_main\n",
};

/**
 * The command that reports a run until it ends (scripts/watch.sh): each new progress line, then
 * "exit <code> <step>" ("exit none" when no run was ever started).
 */
export function watchCommand(stateDir: string, pollSeconds = 0.2): string {
  const rate = Math.round(10 / pollSeconds);
  return fill("watch", { S: stateDir, FAST: Math.max(1, rate), RATE: rate, POLL: pollSeconds });
}
