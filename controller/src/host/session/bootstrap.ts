/**
 * A machine's bootstrap, as one conversation: connect (or take the warm connection), learn the
 * run's state on the machine, then either start the run (the start recorded on the object before
 * the machine may take its gate) or attach to the one found, follow it to its end, and read the
 * outcome. The machine's once-only gate is the authority on whether a run exists and since when:
 * a found run keeps the deadline counted from its start on the machine.
 */
import { Reason } from "@capi-remote/shared";
import { BootstrapDataError, type Plan } from "../../cloudinit/plan.js";
import { PlanBusy, planPool } from "../../cloudinit/planpool.js";
import type { Dialer, ExecResult, SSHConnection } from "../../ssh/executor.js";
import { SSHError } from "../../ssh/executor.js";
import {
  asRoot,
  exitFailure,
  type KillOutcome,
  type MachineState,
  parseLine,
  parseStateProbe,
  provablyDead,
  sameRun,
  stateProbeCommand,
  type TaskFailure,
  TIMED_OUT,
  tailCommand,
  timedOut,
} from "../protocol.js";
import { renderRunner, runInput, startAndFollowCommand, watchCommand } from "../runner.js";
import {
  type BootstrapInput,
  type Conversation,
  foreignRun,
  type HostReport,
  linked,
  type StopInput,
} from "./report.js";
import { checkSudo, type Taken } from "./warm.js";

export interface BootstrapEnv {
  dialer: Dialer;
  redact(text: string): string;
  now(): number;
  trace?: (msg: string, fields: Record<string, unknown>) => void;
  killOn(conn: SSHConnection | undefined, input: StopInput, code: number): Promise<KillOutcome>;
}

/** Time a new run gets to take its gate (plan, start record, upload), before its own time counts. */
const START_GRACE_MS = 30_000;

/** One bootstrap in progress: what its steps share. */
interface Run {
  env: BootstrapEnv;
  input: BootstrapInput;
  r: HostReport;
  conn: SSHConnection;
  warm?: Taken;
  abort: AbortController;
  changed(): void;
  /** Milliseconds since the conversation began, at each milestone (for the trace). */
  timing: Record<string, number>;
  since(): number;
  /** (Re)sets the time the run is stopped at (ms, the env's clock). */
  deadline(at: number): void;
}

/**
 * The bootstrap conversation. Called when the task is started: data that has never started is
 * checked while the slot and the connection are awaited (planned in a worker with a stand-in
 * hostname; the plan that runs is made with the machine's own), so data over a limit is refused
 * without waiting for the host. A started run is followed whatever its data says now.
 */
export function bootstrapConversation(env: BootstrapEnv, input: BootstrapInput, warm?: Taken): Conversation {
  const refusal = input.startStamp
    ? Promise.resolve(undefined)
    : planPool()
        .plan(input.data.value, input.data.format, { commandsAsScript: input.commandsAsScript, hostname: "localhost" })
        .then(
          () => undefined,
          (e: unknown) => (e instanceof BootstrapDataError ? e : undefined),
        );
  // The trace's milestones count from the task's start (this call), so they include the wait for a slot.
  const created = env.now();
  return async (r, signal, changed) => {
    const since = () => env.now() - created;
    const timing: Record<string, number> = { slot: since() };
    const abort = linked(signal);
    const dialing = warm?.conn ? Promise.resolve(warm.conn) : env.dialer.dial(input.target, abort.signal);
    const refused = await Promise.race([refusal, dialing.then(() => undefined)]);
    if (refused) {
      dialing.then(
        (c) => c.close(),
        () => {},
      );
      fail(r, { reason: refused.reason, message: refused.message, terminal: true });
      return;
    }
    const conn = await dialing;
    let timedOutNow = false;
    let timer: NodeJS.Timeout | undefined;
    const deadline = (at: number) => {
      clearTimeout(timer);
      timer = setTimeout(
        () => {
          timedOutNow = true;
          abort.abort();
        },
        Math.max(0, at - env.now()),
      );
    };
    const run: Run = { env, input, r, conn, warm, abort, changed, timing, since, deadline };
    try {
      r.hostKey = conn.hostKey;
      await converse(run);
    } catch (e) {
      if (!timedOutNow) throw e;
      await stopOverrun(run);
    } finally {
      clearTimeout(timer);
      conn.close();
    }
  };
}

function fail(r: HostReport, f: TaskFailure): void {
  r.failure = f;
  r.ok = false;
}

/** The whole bootstrap overran: its processes on the machine are stopped and the outcome recorded there. */
async function stopOverrun({ env, input, r, conn }: Run): Promise<void> {
  // Recorded on the machine as `exit 124 KILLED_STEP`, so a later attach reads it.
  const killed = await env.killOn(conn, input, TIMED_OUT).catch(() => undefined);
  r.killed = killed;
  const f = timedOut(Math.round(input.bootstrapTimeoutMs / 1000));
  fail(
    r,
    killed && provablyDead(killed)
      ? f
      : { ...f, message: `${f.message.replace(/; its processes.*$/, "")}; stopping its processes failed` },
  );
}

/** The machine's state: learned by the warm connection, or asked now. */
async function machineState(run: Run): Promise<(MachineState & { probedAt: number }) | TaskFailure> {
  const { warm, conn, input, env } = run;
  // Learned over this connection while waiting for the data (prepare). A run started since by
  // someone else is still caught: the start command's gate on the machine.
  if (warm) return { ...warm, probedAt: warm.probedAt ?? env.now() };
  const sudo = await checkSudo(conn, input.useSudo, input.target.user);
  if (sudo) return sudo;
  const probe = parseStateProbe(
    await conn.exec(stateProbeCommand(input.stateDir, input.useSudo, input.target.user), {
      timeoutMs: 30_000,
      signal: run.abort.signal,
    }),
  );
  if (!probe) throw new SSHError("ConnectionLost", "could not read the machine's state");
  return { ...probe, probedAt: env.now() };
}

/**
 * When a run found on the machine began (ms, the env's clock): from its age on the machine when
 * it can tell (older hosts: the stamp in its record), never from the object's annotation.
 */
function foundRunBegan(state: MachineState & { probedAt: number }, now: number): number {
  if (state.ageSeconds !== undefined) return state.probedAt - state.ageSeconds * 1000;
  const stamp = Date.parse(state.identity.trim().split(" ")[1] ?? "");
  return Number.isFinite(stamp) ? Math.min(stamp, now) : now;
}

async function converse(run: Run): Promise<void> {
  const { env, input, r, conn } = run;
  const state = await machineState(run);
  if ("reason" in state) return fail(r, state);
  r.hostname = state.hostname;
  if (state.onHost !== "none" && !sameRun(state.identity, input.uid, input.startStamp))
    return fail(r, foreignRun(input.stateDir, state.identity));
  // The deadline counts from the run's start on the machine: a controller restart, a lost status
  // or an edited annotation neither grants a found run a new `bootstrapSeconds` nor cuts it short.
  // A run started now gets its time from when it takes its gate (listener); until then, the
  // record, the plan and the upload get START_GRACE_MS on top.
  if (state.onHost === "none") run.deadline(env.now() + input.bootstrapTimeoutMs + START_GRACE_MS);
  else run.deadline(foundRunBegan(state, env.now()) + input.bootstrapTimeoutMs);
  // A key seen for the first time is recorded before the bootstrap runs: with the start (one
  // write) or, when a run exists already, on its own.
  const firstUse = input.target.hostKeys.mode === "tofu" && !input.target.hostKeys.recorded ? conn.hostKey : undefined;
  let start: Start | undefined;
  if (state.onHost !== "none") await input.attach(firstUse);
  else {
    const planned = await planFor(input, r);
    if (!planned) return;
    start = beginStart(run, planned, firstUse);
  }
  const followed = await follow(run, start);
  if (followed === undefined) return;
  const done = followed;
  r.exitCode = done.code;
  if (done.code === 0) {
    r.ok = true;
    return;
  }
  const root = (cmd: string) => asRoot(cmd, input.useSudo, input.target.user);
  const tail = env.redact(
    (await conn.exec(root(tailCommand(input.stateDir, 15)), { timeoutMs: 15_000, keepLast: true })).stdout,
  );
  fail(
    r,
    exitFailure(done, {
      steps: r.steps,
      step: r.step,
      stepName: r.stepName,
      tail,
      bootstrapSeconds: Math.round(input.bootstrapTimeoutMs / 1000),
    }) ?? { reason: Reason.BootstrapFailed, message: `exit ${done.code}`, terminal: true },
  );
}

/** The plan of the data for this machine (in a worker, bounded in time and memory), or a failure reported. */
async function planFor(input: BootstrapInput, r: HostReport): Promise<Plan | undefined> {
  try {
    return await planPool().plan(input.data.value, input.data.format, {
      commandsAsScript: input.commandsAsScript,
      hostname: r.hostname,
    });
  } catch (e) {
    if (e instanceof BootstrapDataError) {
      fail(r, { reason: e.reason, message: e.message, terminal: true });
      return undefined;
    }
    if (e instanceof PlanBusy) {
      // Not a verdict on the data: retried like any transient failure.
      fail(r, {
        reason: Reason.BootstrapFailed,
        message: `not started: the controller's bootstrap data planner is busy (${e.message}); retried`,
        terminal: false,
      });
      return undefined;
    }
    throw e;
  }
}

/** A start under way: the runner to send, and the record that must be written before `go`. */
interface Start {
  runner: string;
  marked: Promise<void>;
  firstUse?: string;
}

function beginStart(run: Run, plan: Plan, firstUse: string | undefined): Start {
  const { input, r, timing, since } = run;
  r.ignoredKeys = plan.ignoredKeys;
  r.steps = plan.steps.length;
  timing.connected = since();
  // The stamp goes to the object's annotation and into the run's record on the machine. An
  // annotation already there is kept (a start recorded whose run never reached the machine).
  const stamp = input.startStamp ?? new Date(run.env.now()).toISOString();
  const marked = input.markStarted(firstUse, stamp).then(() => {
    timing.marked = since();
  });
  // Handled by the exec in follow; this only keeps a failure before it from counting as an
  // unhandled rejection.
  marked.catch(() => {});
  const runner = renderRunner(plan, {
    stateDir: input.stateDir,
    workingDir: input.workingDir,
    commandTimeoutSeconds: input.commandTimeoutSeconds,
    owner: input.owner,
    identity: { uid: input.uid, stamp },
  });
  return { runner, marked, ...(firstUse ? { firstUse } : {}) };
}

/** What the session printed, as it came. */
interface Heard {
  exit?: { code: number; step: number };
  none: boolean;
  beganHow: string;
  foreign?: string;
}

/**
 * One exec starts the run (unless one exists) and follows it to its end. Resolves to the run's
 * exit, or undefined when a failure was reported.
 */
async function follow(run: Run, start: Start | undefined): Promise<{ code: number; step: number } | undefined> {
  const { input, r } = run;
  const heard: Heard = { none: false, beganHow: "" };
  const onLine = listener(run, heard);
  let watched: ExecResult;
  try {
    watched = await execFollow(run, start, onLine);
  } catch (e) {
    if (heard.foreign === undefined) throw e;
    watched = { code: null, stdout: "", stderr: "" };
  }
  if (heard.foreign !== undefined) {
    fail(r, foreignRun(input.stateDir, heard.foreign));
    return undefined;
  }
  if (start && !heard.beganHow)
    throw new SSHError("ConnectionLost", `could not start the bootstrap (exit ${watched.code})`);
  if (heard.none) throw new SSHError("ConnectionLost", "no bootstrap run found on the machine");
  if (watched.code !== 0 || !heard.exit) throw new SSHError("ConnectionLost", "lost the bootstrap's progress stream");
  return heard.exit;
}

function listener(run: Run, heard: Heard): (text: string) => void {
  const { r, input } = run;
  return (text) => {
    const line = parseLine(text);
    if (line.kind === "step") {
      r.step = line.step;
      r.steps = line.steps;
      r.stepName = line.name;
      run.changed();
    } else if (line.kind === "exit") heard.exit = line;
    else if (line.kind === "none") heard.none = true;
    else if (line.kind === "began" && !heard.beganHow) {
      heard.beganHow = line.how;
      // This run took its gate just now: its time counts from here.
      if (line.how === "started") run.deadline(run.env.now() + input.bootstrapTimeoutMs);
      // Started by someone else between the probe and this start: whose is it?
      if (line.how === "attached" && !sameRun(line.identity, input.uid, input.startStamp)) {
        heard.foreign = line.identity;
        run.abort.abort();
      }
      run.timing.started = run.since();
      run.env.trace?.(`bootstrap ${line.how} on the machine (ms since the task began)`, {
        warm: !!run.warm,
        ...run.timing,
      });
    }
  };
}

/**
 * The start is recorded (markStarted) while the runner travels and the machine gets the run ready
 * (the upload read to its length by the waiting run); the `go` that lets it take the gate is sent
 * only once the record is written. So nothing runs before the record exists, and the reaction pays
 * the API write and the machine's process starts side by side instead of one after the other
 * (startAndFollowCommand). A key seen for the first time is recorded before anything secret goes
 * over the connection (M1): then the script (it holds the data) follows the record.
 */
function execFollow(run: Run, start: Start | undefined, onLine: (line: string) => void): Promise<ExecResult> {
  const { input, conn, abort } = run;
  const root = (cmd: string) => asRoot(cmd, input.useSudo, input.target.user);
  const waiting = run.warm?.standby;
  const sb = start ? waiting : undefined;
  if (waiting && !sb) waiting.feed.fail(new Error("unused"));
  if (!start) return conn.exec(root(watchCommand(input.stateDir)), { signal: abort.signal, onLine });
  const { runner, marked, firstUse } = start;
  if (sb) {
    // The start command waits on the machine already: its length line and the script.
    sb.onLine = onLine;
    abort.signal.addEventListener("abort", () => sb.abort.abort(), { once: true });
    if (!firstUse) sb.feed.push(runInput.body(runner));
    marked.then(
      () => {
        if (firstUse) sb.feed.push(runInput.body(runner));
        sb.feed.push(runInput.go);
        sb.feed.end();
      },
      (e: unknown) => sb.feed.fail(e),
    );
    return sb.result;
  }
  return conn.exec(root(startAndFollowCommand(input.stateDir)), {
    stdin:
      runInput.preamble(input.stateDir, input.commandTimeoutSeconds, input.workingDir) +
      (firstUse ? "" : runInput.body(runner)),
    stdinLast: marked.then(() => (firstUse ? runInput.body(runner) : "") + runInput.go),
    signal: abort.signal,
    onLine,
  });
}
