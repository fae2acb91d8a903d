/**
 * The wire protocol between the controller and a machine, in one place: the state files a run
 * keeps on the machine, the lines its programs print, how an exit is read, and how every failure
 * is worded (reasons from shared's constants). The programs themselves are in `scripts/`; this
 * module renders the small ones and parses what they all print. Pure: no I/O.
 *
 * State directory of one RemoteMachine (stateDirFor), on the machine:
 *   started    created exclusively (O_EXCL) by the one start that wins the gate: "<uid> <stamp>",
 *              the identity of the object that ran (empty when written by an older version)
 *   run        "<session id> <start time> <boot id>" of the run's process (its setsid session);
 *              its steps carry CAPI_REMOTE_RUN=<session id>.<start time> (kill-run.sh, mode left)
 *   run.sh     the runner when a provision Job uploaded it as a file and the run failed
 *              (run.sh.<nonce> while it runs; removed when it succeeds)
 *   progress   "started", then one line per step begun: "<i> <n> <name>"
 *   output.log what the steps printed (removed when the run succeeds: it may hold a token)
 *   step       "<i> <pid>" of the step running (for the watchdog)
 *   timedout   the step the watchdog killed for overrunning its time
 *   exit       "<code> <step>" once finished, in one write (0 0 = success, sentinel included;
 *              step SENTINEL_STEP: the sentinel is missing; step KILLED_STEP: stopped by the
 *              controller, code TIMED_OUT for the bootstrap timeout, KILLED for a deletion)
 *   receipt    written on success
 *
 * Lines a bootstrap session prints: "started" | "attached <uid> <stamp>", "[progress ]<i> <n>
 * <name>", "tick", and finally "exit <code> <step>" or "exit none".
 */
import { Reason } from "@capi-remote/shared";
import { shq } from "../cloudinit/plan.js";
import type { ExecResult } from "../ssh/executor.js";
import { SSHError } from "../ssh/executor.js";
import { fill } from "./scripts.js";

export const STATE_ROOT = "/var/lib/capi-remote";
export const SENTINEL = "/run/cluster-api/bootstrap-success.complete";
/** Exit "step" reported when every step passed but the sentinel file is missing. */
export const SENTINEL_STEP = -1;
/** Exit "step" written when the controller stopped the run (timeout or deletion). */
export const KILLED_STEP = -2;
/** Exit code of a step (or a run) stopped for overrunning its time, as `timeout` reports it. */
export const TIMED_OUT = 124;
/** Exit code recorded for a run stopped because its object was deleted (128 + SIGTERM). */
export const KILLED = 143;

/** Longest line the protocol reads; the rest of a longer line is dropped. */
export const MAX_LINE = 4096;
/** Longest step name kept (the status field's limit). */
export const MAX_STEP_NAME = 1024;

/** The state directory of a RemoteMachine: namespace and name, readable and collision-free. */
export function stateDirFor(namespace: string, name: string): string {
  return `${STATE_ROOT}/${namespace}.${name}`;
}

/** Who ran a bootstrap: the object's UID and the start stamp its `bootstrap-started` annotation holds. */
export interface RunIdentity {
  uid: string;
  stamp: string;
}

/** An identity as it travels in a run's record: two words, nothing the shell would read. */
export function identityWords(id: RunIdentity): string {
  const word = (s: string) => s.replace(/[^A-Za-z0-9._:+-]/g, "_").slice(0, 80) || "-";
  return `${word(id.uid)} ${word(id.stamp)}`;
}

/**
 * Whether a run recorded on the machine belongs to this object: the same UID, or (after
 * `clusterctl move`, which gives objects new UIDs but keeps annotations) the same start stamp as
 * the object's `bootstrap-started` annotation. A record without an identity (older versions)
 * counts as the object's own.
 */
export function sameRun(recorded: string | undefined, uid: string, startStamp: string | undefined): boolean {
  const [rUid, rStamp] = (recorded ?? "").trim().split(" ");
  if (!rUid) return true;
  const mine = identityWords({ uid, stamp: startStamp ?? "" }).split(" ");
  return rUid === mine[0] || (!!startStamp && rStamp === mine[1]);
}

export type RunLine =
  | { kind: "began"; how: "started" }
  | { kind: "began"; how: "attached"; identity: string }
  | { kind: "step"; step: number; steps: number; name: string }
  | { kind: "exit"; code: number; step: number }
  | { kind: "none" }
  | { kind: "tick" }
  | { kind: "other" };

const STEP_LINE = /^(?:progress )?(\d{1,9}) (\d{1,9}) (.*)$/;
const EXIT_LINE = /^exit (-?\d{1,9}) (-?\d{1,9})$/;

/** One line of a bootstrap session's output. Linear in the line, which is cut at MAX_LINE. */
export function parseLine(input: string): RunLine {
  const line = input.length > MAX_LINE ? input.slice(0, MAX_LINE) : input;
  // "started" is the run's first progress line, seen live through `tail -f` or, after the run,
  // through the watch that replays the whole progress file ("progress started"): where tail
  // cannot use inotify (overlayfs, NFS) it polls, and a short run shows nothing live.
  if (line === "started" || line === "progress started") return { kind: "began", how: "started" };
  if (line === "attached" || line.startsWith("attached "))
    return { kind: "began", how: "attached", identity: line.slice(9) };
  if (line === "tick") return { kind: "tick" };
  if (line === "exit none") return { kind: "none" };
  const e = EXIT_LINE.exec(line);
  if (e) return { kind: "exit", code: Number(e[1]), step: Number(e[2]) };
  const m = STEP_LINE.exec(line);
  if (m) return { kind: "step", step: Number(m[1]), steps: Number(m[2]), name: (m[3] ?? "").slice(0, MAX_STEP_NAME) };
  return { kind: "other" };
}

/**
 * parseLine's verdict on a run's last line, for shell that has no parser (a provisionJob's pod
 * follows the run with the watch itself): `$var` holds "exit <code> <step>", and anything but
 * code 0 ("exit none", a failed step, the sentinel missing) fails the script.
 */
export function shellExitCheck(variable: string): string[] {
  return [`set -- $${variable}`, '[ "$2" = 0 ] || exit 1'];
}

/** Runs `cmd` as root (through `sudo -n` when the login user is not root). */
export function asRoot(cmd: string, useSudo: boolean, user: string): string {
  return useSudo && user !== "root" ? `sudo -n sh -c ${shq(cmd)}` : `sh -c ${shq(cmd)}`;
}

export type TaskFailure = {
  /** Condition reason. */
  reason: string;
  message: string;
  /** Terminal: the machine must not be retried (a failed run is never run again). */
  terminal: boolean;
  presentedKey?: string;
};

/** The command that tells whether sudo works without a password. */
export const SUDO_CHECK = "sudo -n true";

/** Whether sudo is needed at all for this login. */
export const needsSudo = (useSudo: boolean, user: string) => useSudo && user !== "root";

/** A sudo refusal as a failure, or undefined when `SUDO_CHECK` succeeded. */
export function sudoFailure(r: ExecResult, user: string): TaskFailure | undefined {
  if (r.code === 0) return undefined;
  if (/password is required/i.test(r.stderr.slice(0, MAX_LINE))) {
    return {
      reason: Reason.SudoRequiresPassword,
      message: `sudo asks ${user} for a password; capi-remote needs passwordless sudo (NOPASSWD) for this user`,
      terminal: false,
    };
  }
  return { reason: Reason.SudoNotPermitted, message: `${user} may not use sudo on the machine`, terminal: false };
}

/** The probe of a machine before a bootstrap: its hostname, then the run's state and record. */
export function stateProbeCommand(stateDir: string, useSudo: boolean, user: string): string {
  return `hostname; ${asRoot(fill("state-probe", { S: stateDir }), useSudo, user)}`;
}

export interface MachineState {
  hostname: string;
  /** "none", "running" or "finished". */
  onHost: string;
  /** The run's record (`started`): "<uid> <stamp>", empty for older versions. */
  identity: string;
  /** For a run: seconds since it took its gate, by the machine's clock (when it could tell). */
  ageSeconds?: number;
}

/** What stateProbeCommand printed, or undefined when it is not a complete answer. */
export function parseStateProbe(r: ExecResult): MachineState | undefined {
  const [hostname = "", state = "", age = ""] = r.stdout
    .slice(0, 3 * MAX_LINE)
    .trim()
    .split("\n");
  const [onHost = "", ...id] = state.trim().split(" ");
  if (r.code !== 0 || !hostname.trim() || !["none", "running", "finished"].includes(onHost)) return undefined;
  const seconds = /^age (-?\d{1,12})$/.exec(age.trim());
  return {
    hostname: hostname.trim().slice(0, 253),
    onHost,
    identity: id.join(" "),
    ...(seconds && onHost !== "none" ? { ageSeconds: Math.max(0, Number(seconds[1])) } : {}),
  };
}

/** An SSH-level error as a failure (never terminal: the machine may come back). */
export function sshFailure(e: unknown): TaskFailure {
  if (e instanceof SSHError) {
    const reason =
      e.reason === "Timeout" || e.reason === "Cancelled" || e.reason === "ConnectionLost"
        ? Reason.HostUnreachable
        : e.reason;
    // A host that floods the session is not retried into flooding it again.
    const terminal = e.reason === "HostOutputTooLarge";
    return { reason, message: e.message, terminal, ...(e.presentedKey ? { presentedKey: e.presentedKey } : {}) };
  }
  return { reason: Reason.HostUnreachable, message: e instanceof Error ? e.message : String(e), terminal: false };
}

/** The failure of a run that ended with `exit <code> <step>`, or undefined for success. */
export function exitFailure(
  exit: { code: number; step: number },
  known: { steps?: number; step?: number; stepName?: string; tail: string; bootstrapSeconds: number },
): TaskFailure | undefined {
  const { code, step } = exit;
  if (code === 0) return undefined;
  if (step === SENTINEL_STEP) {
    return {
      reason: Reason.BootstrapSentinelMissing,
      message: `every step succeeded but ${SENTINEL} was not created. Last output:\n${known.tail}`,
      terminal: true,
    };
  }
  if (step === KILLED_STEP) return code === TIMED_OUT ? timedOut(known.bootstrapSeconds) : stoppedOnDelete();
  const name = known.stepName && known.step === step ? ` (${known.stepName})` : "";
  return {
    reason: Reason.BootstrapFailed,
    message: `step ${step}${known.steps ? ` of ${known.steps}` : ""}${name} failed with exit code ${code}${code === TIMED_OUT ? " (timed out)" : ""}. Last output:\n${known.tail}`,
    terminal: true,
  };
}

/** The whole bootstrap overran its time limit (its processes on the machine were stopped). */
export function timedOut(bootstrapSeconds: number): TaskFailure {
  return {
    reason: Reason.BootstrapTimedOut,
    message: `the bootstrap did not finish within ${bootstrapSeconds} s; its processes on the machine were stopped`,
    terminal: true,
  };
}

function stoppedOnDelete(): TaskFailure {
  return {
    reason: Reason.BootstrapFailed,
    message: "the bootstrap was stopped: its object was deleted",
    terminal: true,
  };
}

/** A probe command (pool machine facts) that did not succeed. */
export function probeFailure(code: number | null): TaskFailure {
  return { reason: Reason.ProbeFailed, message: `the command exited with code ${code}`, terminal: false };
}

/** Cleanup commands that did not all succeed. */
export function cleanupFailure(undone: number, total: number): TaskFailure {
  return { reason: Reason.CleanupFailed, message: `${undone} of ${total} cleanup commands failed`, terminal: false };
}

/** The last lines of a run's output (for a failure message, after redaction). */
export function tailCommand(stateDir: string, lines = 20): string {
  return fill("tail", { S: stateDir, LINES: lines });
}

/**
 * Stops the run of a state directory on the machine (scripts/kill-run.sh): its whole setsid
 * session, TERM then KILL after `graceSeconds`, and records `exit <code> KILLED_STEP` unless the
 * run finished first. When no run was started, it takes the gate itself, so none can start later.
 */
export function killRunCommand(stateDir: string, code: number, graceSeconds: number): string {
  return fill("kill-run", { S: stateDir, CODE: code, KILLED_STEP: KILLED_STEP_RAW, GRACE: graceSeconds, MODE: "run" });
}

/**
 * Stops what the run of a state directory left once the cleanup commands ran (kill-run.sh, mode
 * left): the live processes of its session and every process whose environment carries the run's
 * mark (daemons its steps started, through `setsid` or a double fork too). "none", "killed <n>" or
 * "alive <n>", as killRunCommand says them.
 */
export function leftoversCommand(stateDir: string, graceSeconds: number): string {
  return fill("kill-run", {
    S: stateDir,
    CODE: KILLED,
    KILLED_STEP: KILLED_STEP_RAW,
    GRACE: graceSeconds,
    MODE: "left",
  });
}
const KILLED_STEP_RAW = { raw: String(KILLED_STEP) };

/** What kill-run printed: the run is provably over ("none", "finished", "killed") or not ("alive"). */
export interface KillOutcome {
  state: "none" | "finished" | "killed" | "alive" | "unknown";
  /** Processes signalled (killed) or still there (alive). */
  processes: number;
}

export function parseKill(r: ExecResult): KillOutcome {
  const last = r.stdout.slice(-MAX_LINE).trim().split("\n").pop() ?? "";
  const [state = "", n = "0"] = last.split(" ");
  const processes = Number(n) || 0;
  if (r.code === 0 && (state === "none" || state === "finished" || state === "killed")) return { state, processes };
  if (state === "alive") return { state, processes };
  return { state: "unknown", processes: 0 };
}

/** Whether a kill outcome proves that no process of the run is left. */
export const provablyDead = (k: KillOutcome) => k.state === "none" || k.state === "finished" || k.state === "killed";
