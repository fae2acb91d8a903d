/**
 * Renders a plan into the shell script that runs the bootstrap on the machine, detached from the
 * SSH session, and the commands that start it once and observe it. Pure text generation.
 *
 * On the machine, everything for one RemoteMachine lives in its state directory:
 *   started    created exclusively (noclobber, O_EXCL) by the one start that wins: a second start
 *              attaches (a `started/` directory of earlier versions counts the same)
 *   run.sh     this runner, when a provision Job uploaded it as a file (run.sh.<nonce> while it
 *              runs); a bootstrap session sends it on the run's input instead, and no copy stays
 *   progress   one line per step begun: "<i> <n> <name>"
 *   output.log what the steps printed
 *   step       "<i> <pid>" of the step running in a subshell (for the run's watchdog)
 *   timedout   the step the watchdog killed for overrunning its time
 *   exit       "<code> <step>" once finished (0 0 = success, sentinel included); written in one
 *              write, so readers take an empty file for "not yet"
 *   receipt    written on success; its presence (and time) means "bootstrapped, never again"
 */
import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import { type Plan, type Step, shq } from "./plan.js";

export const STATE_ROOT = "/var/lib/capi-remote";
export const SENTINEL = "/run/cluster-api/bootstrap-success.complete";
/** Exit "step" reported when every step passed but the sentinel file is missing. */
export const SENTINEL_STEP = -1;

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
}

/**
 * The once-only gate, the first line a run executes (with `$S` its state directory): taken by
 * the detached process that runs the script (see uploadAndLaunch), never by an SSH session. An
 * exclusive create (`set -C`: O_EXCL), atomic like the `mkdir` of earlier versions and without
 * starting a process; their `started/` directory makes it fail the same. `cr_self` is the
 * uploaded file the run reads (`$0` when the runner runs as a file; empty when it came as a
 * function on the run's input, see runInput). Through `true`, a
 * regular builtin: a failed redirection of a special builtin such as `:` makes a POSIX shell
 * exit on the spot (dash does), and the loser would not clean up after itself. The winner says
 * "started" as the first line of the progress file (whoever follows the run sees it); a losing
 * starter's copy removes itself.
 */
export const RUN_GATE = `cr_self=\${cr_self-$0}; set -C; if { true > "$S/started"; } 2>/dev/null; then set +C; echo started >> "$S/progress"; else [ -z "$cr_self" ] || rm -f "$cr_self"; exit 0; fi`;

/** The state directory of a RemoteMachine: namespace and name, readable and collision-free. */
export function stateDirFor(namespace: string, name: string): string {
  return `${STATE_ROOT}/${namespace}.${name}`;
}

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
        `case "$cr_l" in '#!'*) ( cr_step ${i}; unset -f cr_step; exec ${path} ) ;; *) ( cr_step ${i}; unset -f cr_step; exec sh ${path} ) ;; esac || fail $? ${i}`,
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
          ? [`umask ${umask}; printf '%s' ${shq(text)} ${to} || fail $? ${i}`]
          : [
              `umask ${umask}; base64 -d ${to} <<'${eof}' || fail $? ${i}`,
              step.contentB64.replace(/(.{76})/g, "$1\n"),
              eof,
            ];
      };
      const viaUmask = !step.append && Number.isFinite(mode) && (mode & 0o7111) === 0;
      const umask = viaUmask ? (0o777 & ~mode).toString(8).padStart(3, "0") : "077";
      const rootOwned = /^root(:root)?$/.test(step.owner.trim());
      // A name of this run's own: a leftover of a run cut short never lends its mode to this one.
      const tmp = shq(`${step.path}.capi-remote-${eof.slice(-12)}`);
      const fix = (f: string) => [
        ...(viaUmask ? [] : [`chmod ${step.permissions} ${f} || fail $? ${i}`]),
        ...(rootOwned ? [] : [`chown ${shq(step.owner)} ${f} || fail $? ${i}`]),
      ];
      return [
        ...head,
        // Parent directories as cloud-init makes them (umask 022); the content is written under
        // the file's own umask (077 when its mode needs chmod: it may hold secrets) and gets its
        // permissions before it takes the file's name.
        `[ -d ${dir} ] || mkdir -p ${dir} || fail $? ${i}`,
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
                `[ "$cr_f" = ${p} ] || mv -f ${tmp} ${p} || fail $? ${i}`,
              ]
            : [...write(umask, tmp, false), "umask 022", ...fix(tmp), `mv -f ${tmp} ${p} || fail $? ${i}`]),
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

/** Exit code of a step killed for overrunning its time limit (as `timeout` reports it). */
export const TIMED_OUT = 124;

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

/**
 * The run's shell functions for its steps' time limits (with `$S` the state directory).
 *
 * One watchdog per run instead of a `timeout` per step: each program started costs a machine
 * milliseconds of CPU, and `timeout` plus the `sh` it starts were two per step. The watchdog is
 * a subshell of the runner (a fork) that starts one `sleep` per period (a tenth of the limit:
 * 180 s for the default 30 min, so usually one for a whole run). It reads which step runs
 * (`step`: its index and the subshell's PID, written by the subshell itself from
 * /proc/self/stat) and, once the same step has run for the limit, records it in `timedout` and
 * sends TERM to the step and its descendants, then KILL 10 s later (`timeout -k 10`'s
 * behaviour). A process counts only while the runner is still its parent (a PID reused by
 * anything else is never signalled); descendants are found through /proc, as no `ps` or `pkill`
 * can be assumed on a minimal machine, and processes a step left running in the background
 * (reparented away from it) are not touched, as with `timeout`'s own process group. The
 * watchdog ends with the run (the runner stops it; if the runner is killed, it notices within
 * a period).
 */
function watchdogLines(limitSeconds: number): string[] {
  const { period, periods } = watchdogTiming(limitSeconds);
  return [
    // In a step's subshell: say which step this process is, then leave no trace of the runner.
    'cr_step() { read -r cr_p cr_l < /proc/self/stat && echo "$1 $cr_p" > "$S/step"; unset -f begin fail finish cr_tree cr_watch; unset S cr_p cr_l cr_f cr_wd cr_c cr_t n go; }',
    // The PIDs of process $1 and its descendants, if the runner is its parent (else nothing).
    // /proc/<pid>/stat: "pid (name) state ppid ...", the name may hold spaces and parentheses.
    "cr_tree() {",
    '  cr_all=; { read -r cr_l < "/proc/$1/stat"; } 2>/dev/null || return 0',
    '  set -- "$1" ${cr_l##*) }; [ "$3" = "$$" ] || return 0',
    '  cr_all=" $1 "; cr_new=1',
    '  while [ "$cr_new" = 1 ]; do cr_new=0',
    "    for cr_s in /proc/[0-9]*/stat; do",
    '      { read -r cr_l < "$cr_s"; } 2>/dev/null || continue',
    "      cr_q=${cr_s#/proc/}; cr_q=${cr_q%/stat}",
    '      case "$cr_all" in *" $cr_q "*) continue ;; esac',
    "      set -- ${cr_l##*) }",
    '      case "$cr_all" in *" $2 "*) cr_all="$cr_all$cr_q "; cr_new=1 ;; esac',
    "    done",
    "  done",
    "}",
    "cr_watch() {",
    "  trap 'kill $cr_sl 2>/dev/null; exit 0' TERM; trap - EXIT",
    "  cr_seen=; cr_n=0",
    '  while kill -0 "$$" 2>/dev/null; do',
    `    sleep ${period} & cr_sl=$!; wait $cr_sl`,
    '    cr_i=; cr_p=; { read -r cr_i cr_p < "$S/step"; } 2>/dev/null',
    '    if [ "$cr_i $cr_p" = "$cr_seen" ]; then cr_n=$((cr_n + 1)); else cr_seen="$cr_i $cr_p"; cr_n=1; fi',
    `    [ "$cr_n" -gt ${periods} ] && [ -n "$cr_p" ] || continue`,
    '    cr_tree "$cr_p"; [ -n "$cr_all" ] || continue',
    '    echo "$cr_i" > "$S/timedout"; kill -TERM $cr_all 2>/dev/null',
    "    sleep 10 & cr_sl=$!; wait $cr_sl",
    '    cr_tree "$cr_p"; [ -z "$cr_all" ] || kill -KILL $cr_all 2>/dev/null',
    "  done",
    "}",
  ];
}

/** Starts the watchdog unless it runs already, and stops it when the run's shell exits. */
const WATCHDOG_START = `trap '[ -z "\${cr_wd-}" ] || kill "$cr_wd" 2>/dev/null' EXIT; [ -n "\${cr_wd-}" ] || { cr_watch & cr_wd=$!; }`;

/** The runner script for a plan. */
export function renderRunner(plan: Plan, opts: RunnerOptions): string {
  const eof = `CAPI_REMOTE_EOF_${randomBytes(6).toString("hex")}`;
  const n = plan.steps.length;
  const watched = plan.steps.some((s) => s.kind !== "file");
  return [
    "#!/bin/sh",
    `# capi-remote bootstrap of ${opts.owner}. Started once; never run again by capi-remote.`,
    `S=${shq(opts.stateDir)}`,
    RUN_GATE,
    'exec >>"$S/output.log" 2>&1 </dev/null',
    // The start made everything above root's only (umask 077); the steps run as cloud-init runs
    // them, under 022 (directories and files they create are readable as usual).
    "umask 022",
    `begin() { echo "$1 $2 $3" >> "$S/progress"; echo "capi-remote: step $1/$2: $3"; }`,
    ...watchdogLines(opts.commandTimeoutSeconds),
    // Off the path to the first step: a runner uploaded as a file keeps the name run.sh on the
    // machine, stray uploads of cut sessions go (`rm` only if there are any). `exit` is
    // written last, in one write: whoever sees it non-empty sees the whole line. The watchdog
    // stops with the run (the EXIT trap).
    `finish() { [ -z "$cr_self" ] || mv -f "$cr_self" "$S/run.sh" 2>/dev/null; for cr_u in "$S"/run.sh.*; do [ ! -e "$cr_u" ] || rm -f "$S"/run.sh.*; break; done; echo "$1 $2" > "$S/exit"; exit 0; }`,
    // A step the watchdog killed reports 124, as `timeout` did.
    `fail() { cr_c=$1; cr_t=; { read -r cr_t < "$S/timedout"; } 2>/dev/null; if [ "$cr_t" = "$2" ]; then cr_c=${TIMED_OUT}; echo "capi-remote: step $2 ran over its ${opts.commandTimeoutSeconds} s and was stopped"; fi; echo "capi-remote: step $2 failed with exit code $cr_c"; finish "$cr_c" "$2"; }`,
    `cd ${shq(opts.workingDir)} 2>/dev/null || { mkdir -p ${shq(opts.workingDir)} && cd ${shq(opts.workingDir)}; } || fail $? 0`,
    // Started already when the runner came on the run's input (runInput's preamble).
    ...(watched ? [WATCHDOG_START] : []),
    ...plan.steps.flatMap((s, i) => stepLines(s, i + 1, n, opts, eof)),
    `if [ ! -e ${shq(opts.sentinel ?? SENTINEL)} ]; then echo "capi-remote: the sentinel file is missing"; finish 1 ${SENTINEL_STEP}; fi`,
    // Its time is its own: no `date` needed.
    'echo bootstrapped > "$S/receipt"',
    "finish 0 0",
    "",
  ].join("\n");
}

/** The name of an upload: a file of its own per start, so a cut session never truncates another's. */
const uploadName = (S: string) => `${S}/run.sh.${randomBytes(6).toString("hex")}`;

/**
 * The state directory, made (under umask 077) only when it is missing: no process for a machine
 * that already has it. The state root is made root's only even if it existed before.
 */
const makeStateDir = (S: string) => `[ -d ${S} ] || { mkdir -p ${S} && chmod 0700 ${shq(STATE_ROOT)}; } || exit 1`;

/** The upload's length check (`$n` bytes): a session cut mid-transfer leaves no runnable file. */
const lengthCheck = (T: string) => `[ "$(wc -c < ${T})" -eq "$n" ] || { rm -f ${T}; echo truncated; exit 1; }`;

/**
 * The Job's start: the upload (length-checked) and the detached run (`$!`), whose script takes
 * the gate first (renderRunner). setsid: the run, in a session of its own, survives the SSH
 * session, a dropped link and a controller restart (no SIGHUP reaches it).
 */
function uploadAndLaunch(S: string): string[] {
  const T = uploadName(S);
  return [
    `cat > ${T} || { rm -f ${T}; exit 1; }`,
    lengthCheck(T),
    // The run appends to it; it exists before anyone follows it.
    `: >> ${S}/progress`,
    `setsid sh ${T} >/dev/null 2>&1 </dev/null &`,
  ];
}

/**
 * The command that starts the runner (read from stdin, `scriptBytes` long) unless a run for this
 * state directory was ever started: prints "started" or "attached". Exactly once, whatever dies
 * when:
 * - the script is uploaded to a file of its own and its length checked: a session cut mid-upload
 *   leaves a stray file, never a truncated runner;
 * - the once-only gate (`started`, created exclusively) is taken by the detached process that then runs the
 *   script, not by the SSH session: a session killed between the gate and the start (controller
 *   SIGKILL, dropped link) cannot leave a gate without a run. If the session dies before the
 *   detached process exists, nothing was started and the next attempt starts it.
 * Two starters racing both upload; one detached process wins the gate, the other deletes its copy.
 */
export function startCommand(stateDir: string, scriptBytes: number): string {
  const S = shq(stateDir);
  // Stray uploads of cut sessions are removed by the run (its finish), off the path to its start.
  // The winner runs its upload where it lies; the run renames it run.sh when it finishes.
  return [
    // umask: the state directory and the uploaded script (it holds join tokens) are root's only.
    "umask 077",
    makeStateDir(S),
    `n=${scriptBytes}`,
    `if [ -e ${S}/started ]; then cat >/dev/null; echo attached; exit 0; fi`,
    ...uploadAndLaunch(S),
    // Return once the gate is taken (by this start or a racing one), so that a watch follows.
    `i=0; while [ ! -e ${S}/started ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done`,
    `[ -e ${S}/started ] || exit 1`,
    "echo started",
  ].join("\n");
}

/**
 * The command a bootstrap session runs: starts the runner (same once-only gate, taken by the
 * detached run, as `startCommand`) and then follows it, in one exec. It prints "started" or
 * "attached", progress lines ("<i> <n> <name>" while it follows its own run, "progress <i> <n>
 * <name>" from the watch) and finally "exit <code> <step>".
 *
 * Its stdin is the run's program, in three parts (runInput): a preamble (the state directory and
 * the steps' watchdog, started at once), the runner as a shell function (`cr_main() { ... }`:
 * parsed, not run), and the line `cr_main`, sent once the start is recorded on the API object.
 * The run is a shell reading its commands from that input (`sh -s`), detached (setsid: it
 * survives the session, a dropped link and a controller restart). So every process the start
 * needs exists before the bootstrap data does: a warm connection runs this command while the
 * machine still waits, and the run, its watchdog and the `tail -f` that streams its progress
 * wait with it. When the data comes, the shell parses the function as it arrives and starts no
 * process at all; on `cr_main` it takes the gate and runs the first step. The API write and the
 * upload happen side by side, and nothing runs before the record exists. Without `cr_main` (the
 * record failed, the session was cut, a warm connection was dropped) the shell reaches the end
 * of its input and exits, gate untouched, stopping the watchdog; an upload cut short is an
 * unfinished function (its closing brace is the last line, and nothing in the runner can close
 * it early: every piece of the bootstrap data in it is quoted or in a here-document), so the
 * shell exits on the syntax error, having run nothing.
 *
 * Following its own run costs the machine nothing while the run lasts: the run is this shell's
 * child, so the shell blocks in `wait`, and one `tail -f` streams the progress file (inotify
 * where GNU tail has it). No polling: with many machines on one host, five `sleep`s a second
 * per machine were most of the CPU of a start. If the session dies, tail dies at its next write
 * and the shell at its first after the run. A run started by someone else (a racing start, an
 * earlier session) is followed by `watchCommand`'s loop.
 */
export function startAndFollowCommand(stateDir: string): string {
  const S = shq(stateDir);
  return [
    "umask 077",
    makeStateDir(S),
    `if [ -e ${S}/started ]; then cat >/dev/null; echo attached; else`,
    // The run appends to it; it exists before anyone follows it.
    `  : >> ${S}/progress`,
    // fd 4: this session's input, handed to the run (an asynchronous list's stdin would be
    // /dev/null). The run keeps neither this session's output nor its error. Its argument
    // names it after the runner, as `pkill -f <state>/run.sh` finds it.
    "  exec 4<&0",
    `  setsid sh -s ${S}/run.sh <&4 >/dev/null 2>&1 4<&- &`,
    "  run=$!",
    "  exec 4<&-",
    `  tail -n +1 -f ${S}/progress 2>/dev/null &`,
    "  follow=$!",
    '  wait "$run"',
    '  kill "$follow" 2>/dev/null',
    "fi",
    watchCommand(stateDir),
  ].join("\n");
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
    const W = shq(workingDir);
    return [
      `S=${shq(stateDir)}; cr_self=`,
      `[ -d ${W} ] || (umask 022; mkdir -p ${W}) 2>/dev/null`,
      ...watchdogLines(commandTimeoutSeconds),
      WATCHDOG_START,
      "",
    ].join("\n");
  },
  /** The runner, as a function the shell parses without running it. */
  body(runner: string): string {
    return `cr_main() {\n${runner}\n}\n`;
  },
  /** Sent once the start is recorded: runs it. */
  go: "cr_main\n",
};

/**
 * The command that reports a run until it ends: prints each new progress line as it appears and
 * finally "exit <code> <step>". Exits at once when the run is already over.
 *
 * It runs for the whole bootstrap on the machine, so it is cheap: the progress file is read
 * through a descriptor kept open (shell builtins only; each line is one small append by the
 * runner), and the only process it starts is `sleep`: every `pollSeconds` for the first ten
 * seconds, then every second.
 */
export function watchCommand(stateDir: string, pollSeconds = 0.2): string {
  const S = shq(stateDir);
  const fast = Math.max(1, Math.round(10 / pollSeconds));
  return [
    "n=0; open=0; last=0",
    // New progress lines, from where the last read stopped.
    `drain() { if [ $open = 0 ] && [ -f ${S}/progress ]; then exec 3<${S}/progress; open=1; fi; if [ $open = 1 ]; then while IFS= read -r line <&3; do echo "progress $line"; done; fi; }`,
    "while :; do",
    "  n=$((n + 1))",
    // Every ~2 s a "tick" line: when the session is gone (controller killed, link cut) the write
    // fails and the loop dies with it, instead of polling forever on the machine.
    `  now=$(( n <= ${fast} ? n * 10 / ${Math.round(10 / pollSeconds)} : 10 + n - ${fast} ))`,
    "  if [ $((now - last)) -ge 2 ]; then last=$now; echo tick || exit 0; fi",
    // Look for the end first, then print progress: lines written just before the end are not lost.
    // Non-empty: the run writes it in one write, so an empty file is one being written.
    `  done=0; [ -s ${S}/exit ] && done=1`,
    "  drain",
    `  if [ "$done" = 1 ]; then read -r code step < ${S}/exit; echo "exit $code $step"; exit 0; fi`,
    `  [ -e ${S}/started ] || { echo "exit none"; exit 0; }`,
    `  if [ $n -le ${fast} ]; then sleep ${pollSeconds}; else sleep 1; fi`,
    "done",
  ].join("\n");
}

/** The last lines of a run's output (for a failure message, after redaction). */
export function tailCommand(stateDir: string, lines = 20): string {
  return `tail -n ${lines} ${shq(stateDir)}/output.log 2>/dev/null; true`;
}
