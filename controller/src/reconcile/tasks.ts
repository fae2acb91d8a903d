/**
 * Slow SSH work off the reconcile loop: bootstraps and cleanups run as tracked tasks with
 * timeouts and cancellation. The reconciler starts a task, observes its progress and result, and
 * is told (through `notify`) whenever either changes.
 */
import { Reason } from "@capi-remote/shared";
import { BootstrapDataError, type Plan, shq } from "../cloudinit/plan.js";
import { PlanBusy, planPool } from "../cloudinit/planpool.js";
import {
  asRoot,
  cleanupFailure,
  exitFailure,
  KILLED,
  type KillOutcome,
  killRunCommand,
  type MachineState,
  needsSudo,
  parseKill,
  parseLine,
  parseStateProbe,
  probeFailure,
  provablyDead,
  SUDO_CHECK,
  sameRun,
  sshFailure,
  stateProbeCommand,
  sudoFailure,
  type TaskFailure,
  TIMED_OUT,
  tailCommand,
  timedOut,
} from "../host/protocol.js";
import { renderRunner, runInput, startAndFollowCommand, watchCommand } from "../host/runner.js";
import type { Dialer, ExecResult, SSHConnection, SSHTarget } from "../ssh/executor.js";
import { InputFeed, SSHError } from "../ssh/executor.js";
import { acceptHostKey } from "../ssh/hostkeys.js";
import { LEFTOVERS_STEP, SCRUB_STEP, scrubCommands, stopLeftovers } from "../ssh/scrub.js";
import { FairSlots, type Lane, namespaceOfKey, type SlotLimits, slotLimits } from "../ssh/slots.js";

export type { TaskFailure } from "../host/protocol.js";

/** Seconds a stopped run's processes get between TERM and KILL. */
const KILL_GRACE_SECONDS = 10;

export interface BootstrapInput {
  target: SSHTarget;
  useSudo: boolean;
  workingDir: string;
  commandsAsScript: boolean;
  data: { value: string; format?: string };
  stateDir: string;
  owner: string;
  commandTimeoutSeconds: number;
  bootstrapTimeoutMs: number;
  /** The object's UID: recorded in the run's gate, and compared with a run found on the machine. */
  uid: string;
  /**
   * The object's `bootstrap-started` annotation, if set: a run recorded with the same stamp is
   * this object's even under a new UID (`clusterctl move`), and the bootstrap's deadline counts
   * from it (so a controller restart does not grant a new `bootstrapSeconds`).
   */
  startStamp?: string;
  /**
   * Before following a run that exists on the machine already: durably records what the object
   * must carry from then on (its finalizer, the host key seen on first use).
   */
  attach(hostKey?: string): Promise<void>;
  /**
   * Durably marks the object "bootstrap started" with `stamp` (the value for its
   * `bootstrap-started` annotation, also recorded on the machine), before the run is started on
   * the machine, together with the host key to record on first use and the finalizer (one write).
   */
  markStarted(hostKey: string | undefined, stamp: string): Promise<void>;
}

export interface TaskState {
  kind: "bootstrap" | "cleanup" | "probe" | "kill";
  /** For probes: what the command printed. */
  output?: string;
  running: boolean;
  startedAt: Date;
  finishedAt?: Date;
  step?: number;
  steps?: number;
  stepName?: string;
  hostname?: string;
  hostKey?: string;
  ignoredKeys?: string[];
  exitCode?: number;
  ok?: boolean;
  failure?: TaskFailure;
  /** For cleanup: commands that did not succeed. */
  leftUndone?: string[];
  /** For kill and cleanup: how stopping the run on the machine went (provablyDead tells). */
  killed?: KillOutcome;
  /** For cleanup: how stopping what the run left after the cleanup commands went. */
  leftovers?: KillOutcome;
  abort: AbortController;
}

/** Turns a sudo refusal into a failure, or undefined when sudo works. */
async function checkSudo(conn: SSHConnection, useSudo: boolean, user: string): Promise<TaskFailure | undefined> {
  if (!needsSudo(useSudo, user)) return undefined;
  return sudoFailure(await conn.exec(SUDO_CHECK, { timeoutMs: 15_000 }), user);
}

/** A run that would not stop: nothing may be cleaned or handed on while it lives. */
function runNotStopped(k: KillOutcome): TaskFailure {
  return {
    reason: Reason.CleanupFailed,
    message:
      k.state === "alive"
        ? `the bootstrap run on the machine would not stop (${k.processes} processes left)`
        : "could not tell whether the bootstrap run on the machine stopped",
    terminal: false,
  };
}

/** A run found on the machine that another object started (same name, other UID and stamp). */
function foreignRun(stateDir: string, identity: string): TaskFailure {
  return {
    reason: Reason.MachineAlreadyBootstrapped,
    message: `the machine holds the bootstrap of another object under this name (record ${identity.slice(0, 200)} in ${stateDir}); clean the machine (remove that directory after resetting it) or use another one`,
    terminal: false,
  };
}

/**
 * What a bootstrap needs to know about a machine before it starts, learned over a connection
 * opened while the machine still waits for its bootstrap data (see `TaskManager.prepare`).
 */
interface Warm {
  /** The target it was opened for (address, port, user, key, host-key policy). */
  fingerprint: string;
  conn?: SSHConnection;
  hostname?: string;
  /** "none", "running" or "finished": the run's state on the machine when it was probed. */
  onHost?: string;
  /** The run's record on the machine (who it ran for), when one exists. */
  identity?: string;
  closed: boolean;
  timer?: NodeJS.Timeout;
  /**
   * The start command, already running on the machine and waiting for the runner on stdin
   * (opened when no run exists yet): the bootstrap then only sends the script.
   */
  standby?: Standby;
}

interface Standby {
  feed: InputFeed;
  result: Promise<ExecResult>;
  abort: AbortController;
  onLine: (line: string) => void;
  ended: boolean;
}

/** A target's identity for warm-connection reuse; the key material is compared, never logged. */
type WarmInput = Pick<BootstrapInput, "target" | "useSudo" | "stateDir" | "commandTimeoutSeconds" | "workingDir">;

function targetFingerprint(input: WarmInput): string {
  const t = input.target;
  // A first-use key recorded by the warm connection itself must not make it look stale: the
  // key it holds is checked against the policy when it is taken (takeWarm).
  const policy = t.hostKeys.mode === "tofu" ? { mode: "tofu" } : t.hostKeys;
  return JSON.stringify([
    t.host,
    t.port,
    t.user,
    t.privateKey,
    t.passphrase ?? "",
    policy,
    t.bastion ?? null,
    input.useSudo,
    input.stateDir,
    // The standby's watchdog was started with it, and its working directory made.
    input.commandTimeoutSeconds,
    input.workingDir,
  ]);
}

export class TaskManager {
  private readonly tasks = new Map<string, TaskState>();
  /** Connections opened ahead of the bootstrap data, by object key (bounded by maxWarm). */
  private readonly warm = new Map<string, Warm>();
  /** SSH slots per lane, shared fairly between namespaces (ssh/slots.ts). */
  readonly slots: FairSlots;

  constructor(
    private readonly dialer: Dialer,
    private readonly notify: (key: string) => void,
    /** Slots per lane; a number gives every lane that many, with no cap per namespace. */
    limits: number | SlotLimits,
    private readonly redact: (key: string, text: string) => string,
    private readonly onFinish?: (t: TaskState) => void,
    private readonly warmOpts: {
      max: number;
      /** Warm connections one namespace may hold (default: all of `max`). */
      perNamespace?: number;
      idleMs: number;
      /** Debug tracing of a bootstrap's start (timings only; never data). */
      trace?: (key: string, msg: string, fields: Record<string, unknown>) => void;
    } = { max: 64, idleMs: 10 * 60_000 },
  ) {
    this.slots = new FairSlots(
      typeof limits === "number"
        ? slotLimits({ bootstrap: limits, cleanup: limits, probe: limits, namespaceShare: 1 })
        : limits,
    );
  }

  /**
   * Opens the SSH connection of a machine that waits only for its bootstrap data, and learns
   * what the bootstrap will need first (host key checked against the policy; sudo; the
   * hostname; whether a run exists on the machine). When the data arrives, `startBootstrap` uses
   * it and only has to upload and start the run: the reaction is one round trip instead of a
   * handshake and four. Best effort and bounded: at most `max` connections are kept, each for at
   * most `idleMs`; any failure just leaves the bootstrap to connect as usual (and report it).
   */
  prepare(key: string, input: WarmInput): void {
    const fingerprint = targetFingerprint(input);
    const have = this.warm.get(key);
    if (have && !have.closed && have.fingerprint === fingerprint) return;
    if (have) this.dropWarm(key);
    if (this.warm.size >= this.warmOpts.max || this.tasks.has(key)) return;
    // A namespace's machines that never answer hold at most its share of the warm connections.
    const ns = namespaceOfKey(key);
    let mine = 0;
    for (const k of this.warm.keys()) if (namespaceOfKey(k) === ns) mine++;
    if (mine >= (this.warmOpts.perNamespace ?? this.warmOpts.max)) return;
    const w: Warm = { fingerprint, closed: false };
    this.warm.set(key, w);
    w.timer = setTimeout(() => this.dropWarm(key), this.warmOpts.idleMs);
    w.timer.unref();
    void (async () => {
      const conn = await this.dialer.dial(input.target);
      if (w.closed) return conn.close();
      w.conn = conn;
      conn.onClose?.(() => {
        if (this.warm.get(key) === w) this.dropWarm(key);
      });
      // A first-use key is recorded by the bootstrap, in the same write as its start.
      if (await checkSudo(conn, input.useSudo, input.target.user)) throw new Error("sudo refused");
      const probe = parseStateProbe(
        await conn.exec(stateProbeCommand(input.stateDir, input.useSudo, input.target.user), { timeoutMs: 15_000 }),
      );
      if (!probe) throw new Error("probe failed");
      w.hostname = probe.hostname;
      w.onHost = probe.onHost;
      w.identity = probe.identity;
      if (w.onHost === "none" && !w.closed) {
        // The start command waits on the machine for the script: its sshd session, shell, state
        // directory, detached run and progress stream are made now, off the path from the
        // bootstrap data to the first command (each process start costs the machine
        // milliseconds, and a burst of machines may share a host's CPU).
        const sb: Standby = {
          feed: new InputFeed(),
          abort: new AbortController(),
          onLine: () => {},
          ended: false,
          result: Promise.resolve({ code: null, stdout: "", stderr: "" }),
        };
        sb.result = conn.exec(asRoot(startAndFollowCommand(input.stateDir), input.useSudo, input.target.user), {
          input: sb.feed,
          signal: sb.abort.signal,
          onLine: (line) => sb.onLine(line),
        });
        sb.result.then(
          () => {
            sb.ended = true;
          },
          () => {
            sb.ended = true;
          },
        );
        // The run's state directory and watchdog, started now too.
        sb.feed.push(runInput.preamble(input.stateDir, input.commandTimeoutSeconds, input.workingDir));
        w.standby = sb;
      }
    })().catch(() => {
      // Not warm after all: the bootstrap connects itself and reports what goes wrong.
      if (this.warm.get(key) === w) this.dropWarm(key);
    });
  }

  /** Closes a warm connection (the machine was deleted, provisioned, or changed). */
  dropWarm(key: string): void {
    const w = this.warm.get(key);
    if (!w) return;
    this.warm.delete(key);
    w.closed = true;
    clearTimeout(w.timer);
    w.conn?.close();
  }

  /** Whether a ready warm connection waits for this key. */
  isWarm(key: string): boolean {
    const w = this.warm.get(key);
    return !!w && !w.closed && !!w.onHost;
  }

  /** Number of warm connections, for metrics and tests. */
  get warmCount(): number {
    return this.warm.size;
  }

  /** Takes a ready warm connection for this target, if there is one. */
  private takeWarm(
    key: string,
    target: SSHTarget,
    fingerprint: string,
  ): (Required<Pick<Warm, "conn" | "hostname" | "onHost">> & { identity: string; standby?: Standby }) | undefined {
    const w = this.warm.get(key);
    if (!w) return undefined;
    this.warm.delete(key);
    clearTimeout(w.timer);
    if (
      w.closed ||
      w.fingerprint !== fingerprint ||
      !w.conn ||
      !w.hostname ||
      !w.onHost ||
      !acceptHostKey(target.hostKeys, w.conn.hostKey)
    ) {
      w.closed = true;
      w.conn?.close();
      return undefined;
    }
    w.closed = true; // from here on the bootstrap owns (and closes) the connection
    const standby = w.standby && !w.standby.ended ? w.standby : undefined;
    if (w.standby && !standby) w.standby.feed.fail(new Error("unused"));
    return {
      conn: w.conn,
      hostname: w.hostname,
      onHost: w.onHost,
      identity: w.identity ?? "",
      ...(standby ? { standby } : {}),
    };
  }

  get(key: string): TaskState | undefined {
    return this.tasks.get(key);
  }

  /** Forgets a finished task (so the next reconcile may start anew). */
  clear(key: string): void {
    const t = this.tasks.get(key);
    if (t && !t.running) this.tasks.delete(key);
  }

  /** Cancels a task (the SSH session; a detached bootstrap on the machine keeps running). */
  cancel(key: string): void {
    this.dropWarm(key);
    this.tasks.get(key)?.abort.abort();
    this.tasks.delete(key);
  }

  /** Cancels everything and waits for tasks to reach a safe point. */
  async shutdown(timeoutMs = 10_000): Promise<void> {
    for (const key of [...this.warm.keys()]) this.dropWarm(key);
    for (const t of this.tasks.values()) t.abort.abort();
    const deadline = Date.now() + timeoutMs;
    while ([...this.tasks.values()].some((t) => t.running) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
  }

  /** Which lane of SSH slots a kind of task waits in. */
  private static readonly LANE: Record<TaskState["kind"], Lane> = {
    bootstrap: "bootstrap",
    cleanup: "cleanup",
    kill: "cleanup",
    probe: "probe",
  };

  private launch(key: string, kind: TaskState["kind"], body: (t: TaskState) => Promise<void>): TaskState {
    const t: TaskState = { kind, running: true, startedAt: new Date(), abort: new AbortController() };
    this.tasks.set(key, t);
    void (async () => {
      let release: (() => void) | undefined;
      try {
        release = await this.slots.acquire(TaskManager.LANE[kind], namespaceOfKey(key), t.abort.signal).catch(() => {
          throw new SSHError("Cancelled", "cancelled");
        });
        await body(t);
      } catch (e) {
        t.ok = false;
        t.failure ??= sshFailure(e);
      } finally {
        release?.();
        t.running = false;
        t.finishedAt = new Date();
        this.onFinish?.(t);
        if (this.tasks.get(key) === t) this.notify(key);
      }
    })();
    return t;
  }

  /** Starts (or re-attaches to) the bootstrap of a machine. */
  startBootstrap(key: string, input: BootstrapInput): TaskState {
    const warm = this.takeWarm(key, input.target, targetFingerprint(input));
    // Data that has never started is checked while the connection opens (planned in a worker
    // with a stand-in hostname; the plan that runs is made with the machine's own, below): data
    // over a limit is refused without waiting for the host. A started run is followed whatever
    // its data says now.
    const refusal = input.startStamp
      ? Promise.resolve(undefined)
      : planPool()
          .plan(input.data.value, input.data.format, {
            commandsAsScript: input.commandsAsScript,
            hostname: "localhost",
          })
          .then(
            () => undefined,
            (e: unknown) => (e instanceof BootstrapDataError ? e : undefined),
          );
    return this.launch(key, "bootstrap", async (t) => {
      const since = () => Date.now() - t.startedAt.getTime();
      const timing: Record<string, number> = { slot: since() };
      const dialing = warm?.conn ? Promise.resolve(warm.conn) : this.dialer.dial(input.target, t.abort.signal);
      const refused = await Promise.race([refusal, dialing.then(() => undefined)]);
      if (refused) {
        dialing.then(
          (c) => c.close(),
          () => {},
        );
        t.failure = { reason: refused.reason, message: refused.message, terminal: true };
        t.ok = false;
        return;
      }
      const conn = await dialing;
      // The deadline counts from the recorded start when there is one: a controller restart or a
      // lost status does not grant the run a new `bootstrapSeconds`.
      const began = Date.parse(input.startStamp ?? "");
      const deadline = (Number.isFinite(began) ? Math.min(began, Date.now()) : Date.now()) + input.bootstrapTimeoutMs;
      let timedOutNow = false;
      const killTimer = setTimeout(
        () => {
          timedOutNow = true;
          t.abort.abort();
        },
        Math.max(0, deadline - Date.now()),
      );
      try {
        t.hostKey = conn.hostKey;
        const root = (cmd: string) => asRoot(cmd, input.useSudo, input.target.user);
        let state: MachineState;
        if (warm) {
          // Learned over this connection while waiting for the data (prepare). A run started
          // since by someone else is still caught: the start command's gate on the machine.
          state = { hostname: warm.hostname, onHost: warm.onHost, identity: warm.identity };
        } else {
          const sudo = await checkSudo(conn, input.useSudo, input.target.user);
          if (sudo) {
            t.failure = sudo;
            t.ok = false;
            return;
          }
          const probe = parseStateProbe(
            await conn.exec(stateProbeCommand(input.stateDir, input.useSudo, input.target.user), {
              timeoutMs: 30_000,
              signal: t.abort.signal,
            }),
          );
          if (!probe) throw new SSHError("ConnectionLost", "could not read the machine's state");
          state = probe;
        }
        t.hostname = state.hostname;
        if (state.onHost !== "none" && !sameRun(state.identity, input.uid, input.startStamp)) {
          t.failure = foreignRun(input.stateDir, state.identity);
          t.ok = false;
          return;
        }
        // A key seen for the first time is recorded before the bootstrap runs: with the start
        // (one write) or, when a run exists already, on its own.
        const firstUse =
          input.target.hostKeys.mode === "tofu" && !input.target.hostKeys.recorded ? conn.hostKey : undefined;
        let plan: Plan | undefined;
        let runner: string | undefined;
        let marked: Promise<void> | undefined;
        if (state.onHost !== "none") await input.attach(firstUse);
        if (state.onHost === "none") {
          try {
            // In a worker thread, bounded in time and memory (cloudinit/planpool.ts).
            plan = await planPool().plan(input.data.value, input.data.format, {
              commandsAsScript: input.commandsAsScript,
              hostname: t.hostname,
            });
          } catch (e) {
            if (e instanceof BootstrapDataError) {
              t.failure = { reason: e.reason, message: e.message, terminal: true };
              t.ok = false;
              return;
            }
            if (e instanceof PlanBusy) {
              // Not a verdict on the data: retried like any transient failure.
              t.failure = {
                reason: Reason.BootstrapFailed,
                message: `not started: the controller's bootstrap data planner is busy (${e.message}); retried`,
                terminal: false,
              };
              t.ok = false;
              return;
            }
            throw e;
          }
          t.ignoredKeys = plan.ignoredKeys;
          t.steps = plan.steps.length;
          timing.connected = since();
          // The stamp goes to the object's annotation and into the run's record on the machine.
          const stamp = input.startStamp ?? new Date().toISOString();
          marked = input.markStarted(firstUse, stamp).then(() => {
            timing.marked = since();
          });
          // Handled by the exec below; this only keeps a failure before it from counting as an
          // unhandled rejection.
          marked.catch(() => {});
          runner = renderRunner(plan, {
            stateDir: input.stateDir,
            workingDir: input.workingDir,
            commandTimeoutSeconds: input.commandTimeoutSeconds,
            owner: input.owner,
            identity: { uid: input.uid, stamp },
          });
        }
        // One exec starts the run (unless one exists) and follows it to its end.
        let exit: { code: number; step: number } | undefined;
        let none = false;
        let beganHow = "";
        let foreign: string | undefined;
        const onLine = (text: string) => {
          const line = parseLine(text);
          if (line.kind === "step") {
            t.step = line.step;
            t.steps = line.steps;
            t.stepName = line.name;
            this.notify(key);
          } else if (line.kind === "exit") exit = line;
          else if (line.kind === "none") none = true;
          else if (line.kind === "began" && !beganHow) {
            beganHow = line.how;
            // Started by someone else between the probe and this start: whose is it?
            if (line.how === "attached" && !sameRun(line.identity, input.uid, input.startStamp)) {
              foreign = line.identity;
              t.abort.abort();
            }
            timing.started = since();
            this.warmOpts.trace?.(key, `bootstrap ${line.how} on the machine (ms since the task began)`, {
              warm: !!warm,
              ...timing,
            });
          }
        };
        // The start is recorded (markStarted) while the runner travels and the machine gets
        // the run ready (the upload read to its length by the waiting run); the `go` that lets it take
        // the gate is sent only once the record is written. So nothing runs before the record
        // exists, and the reaction pays the API write and the machine's process starts side by
        // side instead of one after the other (startAndFollowCommand).
        const standby = runner ? warm?.standby : undefined;
        if (warm?.standby && !standby) warm.standby.feed.fail(new Error("unused"));
        let watched: ExecResult;
        try {
          if (runner && standby) {
            // The start command waits on the machine already: its length line and the script.
            const sb = standby;
            const body = runner;
            sb.onLine = onLine;
            t.abort.signal.addEventListener("abort", () => sb.abort.abort(), { once: true });
            // A key seen for the first time is recorded before anything secret goes over the
            // connection (M1): the script (it holds the data) follows the record then.
            if (!firstUse) sb.feed.push(runInput.body(body));
            (marked as Promise<void>).then(
              () => {
                if (firstUse) sb.feed.push(runInput.body(body));
                sb.feed.push(runInput.go);
                sb.feed.end();
              },
              (e: unknown) => sb.feed.fail(e),
            );
            watched = await sb.result;
          } else if (runner) {
            const body0 = runner;
            watched = await conn.exec(root(startAndFollowCommand(input.stateDir)), {
              stdin:
                runInput.preamble(input.stateDir, input.commandTimeoutSeconds, input.workingDir) +
                (firstUse ? "" : runInput.body(runner)),
              // On first use the script (secret) waits for the key's record too (M1).
              stdinLast: (marked as Promise<void>).then(() => (firstUse ? runInput.body(body0) : "") + runInput.go),
              signal: t.abort.signal,
              onLine,
            });
          } else {
            watched = await conn.exec(root(watchCommand(input.stateDir)), { signal: t.abort.signal, onLine });
          }
        } catch (e) {
          if (foreign === undefined) throw e;
          watched = { code: null, stdout: "", stderr: "" };
        }
        if (foreign !== undefined) {
          t.failure = foreignRun(input.stateDir, foreign);
          t.ok = false;
          return;
        }
        if (runner && !beganHow)
          throw new SSHError("ConnectionLost", `could not start the bootstrap (exit ${watched.code})`);
        if (none) throw new SSHError("ConnectionLost", "no bootstrap run found on the machine");
        if (watched.code !== 0 || !exit) throw new SSHError("ConnectionLost", "lost the bootstrap's progress stream");
        const done: { code: number; step: number } = exit;
        t.exitCode = done.code;
        if (done.code === 0) {
          t.ok = true;
          return;
        }
        const tail = this.redact(
          key,
          (await conn.exec(root(tailCommand(input.stateDir, 15)), { timeoutMs: 15_000, keepLast: true })).stdout,
        );
        t.ok = false;
        t.failure = exitFailure(done, {
          steps: t.steps,
          step: t.step,
          stepName: t.stepName,
          tail,
          bootstrapSeconds: Math.round(input.bootstrapTimeoutMs / 1000),
        });
      } catch (e) {
        if (timedOutNow) {
          // The whole bootstrap overran: its processes on the machine are stopped and the outcome
          // recorded there (`exit 124 KILLED_STEP`), so a later attach reads it.
          const killed = await this.killOn(conn, input, TIMED_OUT).catch(() => undefined);
          t.killed = killed;
          const f = timedOut(Math.round(input.bootstrapTimeoutMs / 1000));
          t.failure =
            killed && provablyDead(killed)
              ? f
              : { ...f, message: `${f.message.replace(/; its processes.*$/, "")}; stopping its processes failed` };
          t.ok = false;
          return;
        }
        throw e;
      } finally {
        clearTimeout(killTimer);
        conn.close();
      }
    });
  }

  /** Stops a run over `conn` (or a new connection when that one is gone); see killRunCommand. */
  private async killOn(
    conn: SSHConnection | undefined,
    input: { target: SSHTarget; useSudo: boolean; stateDir: string },
    code: number,
  ): Promise<KillOutcome> {
    const cmd = asRoot(killRunCommand(input.stateDir, code, KILL_GRACE_SECONDS), input.useSudo, input.target.user);
    const opts = { timeoutMs: (KILL_GRACE_SECONDS + 15) * 1000 };
    try {
      if (conn) return parseKill(await conn.exec(cmd, opts));
    } catch {
      // The connection died with the timeout: a new one below.
    }
    const fresh = await this.dialer.dial(input.target);
    try {
      return parseKill(await fresh.exec(cmd, opts));
    } finally {
      fresh.close();
    }
  }

  /**
   * Stops the bootstrap run of a state directory on the machine (its whole process session) and
   * proves it: the task's `killed` says what was found, `ok` is true only when no process of the
   * run is left (or none ever ran; then the gate is taken so none can start later). Used before
   * anything is cleaned up on deletion; a pool machine goes back only after this.
   */
  startKill(key: string, input: { target: SSHTarget; useSudo: boolean; stateDir: string }): TaskState {
    return this.launch(key, "kill", async (t) => {
      const conn = await this.dialer.dial(input.target, t.abort.signal);
      try {
        t.hostKey = conn.hostKey;
        const sudo = await checkSudo(conn, input.useSudo, input.target.user);
        if (sudo) {
          t.failure = sudo;
          t.ok = false;
          return;
        }
        t.killed = await this.killOn(conn, input, KILLED);
        t.ok = provablyDead(t.killed);
        if (!t.ok) t.failure = runNotStopped(t.killed);
      } finally {
        conn.close();
      }
    });
  }

  /**
   * Runs one read-only command as the login user (for pool machine facts) and keeps its output.
   * A host key seen for the first time is recorded through `recordHostKey` before anything runs.
   */
  startProbe(
    key: string,
    input: { target: SSHTarget; command: string; timeoutMs: number; recordHostKey(key: string): Promise<void> },
  ): TaskState {
    return this.launch(key, "probe", async (t) => {
      const conn = await this.dialer.dial(input.target, t.abort.signal);
      try {
        t.hostKey = conn.hostKey;
        if (input.target.hostKeys.mode === "tofu" && !input.target.hostKeys.recorded)
          await input.recordHostKey(conn.hostKey);
        const r = await conn.exec(input.command, { timeoutMs: input.timeoutMs, signal: t.abort.signal });
        t.output = this.redact(key, r.stdout);
        t.ok = r.code === 0;
        if (!t.ok) t.failure = probeFailure(r.code);
      } finally {
        conn.close();
      }
    });
  }

  /**
   * Stops the bootstrap run on the machine (its whole session; a cleanup never races a run), then
   * runs the cleanup commands, then removes capi-remote's state from the machine. When the run
   * cannot be proven stopped, nothing else is done and the cleanup fails (to be retried).
   */
  startCleanup(
    key: string,
    input: {
      target: SSHTarget;
      useSudo: boolean;
      commands: string[];
      stateDir: string;
      commandTimeoutMs: number;
      /**
       * A pool machine's holder's bootstrap data: the files its write_files created are removed
       * after the cleanup commands (ssh/scrub.ts), so the next holder does not get them.
       */
      scrub?: { value: string; format?: string };
    },
  ): TaskState {
    return this.launch(key, "cleanup", async (t) => {
      const conn = await this.dialer.dial(input.target, t.abort.signal);
      try {
        const sudo = await checkSudo(conn, input.useSudo, input.target.user);
        if (sudo) {
          t.failure = sudo;
          t.ok = false;
          t.leftUndone = input.commands;
          return;
        }
        t.killed = await this.killOn(conn, input, KILLED);
        if (!provablyDead(t.killed)) {
          t.failure = runNotStopped(t.killed);
          t.ok = false;
          t.leftUndone = input.commands;
          return;
        }
        const undone: string[] = [];
        for (const cmd of input.commands) {
          const r = await conn
            .exec(asRoot(cmd, input.useSudo, input.target.user), {
              timeoutMs: input.commandTimeoutMs,
              signal: t.abort.signal,
            })
            .catch((e: unknown) => ({ code: -1, stdout: "", stderr: e instanceof Error ? e.message : String(e) }));
          if (r.code !== 0) undone.push(cmd);
        }
        const total = input.commands.length + (input.scrub ? 2 : 1);
        // What the run left (daemons, also outside its session) goes after the commands, which
        // may need it to stop cleanly; while any of it lives, nothing more is removed.
        const exec = (cmd: string, timeoutMs: number) =>
          conn.exec(asRoot(cmd, input.useSudo, input.target.user), { timeoutMs, signal: t.abort.signal });
        t.leftovers = await stopLeftovers(exec, input.stateDir, KILL_GRACE_SECONDS);
        if (!provablyDead(t.leftovers)) {
          t.leftUndone = [...undone, LEFTOVERS_STEP];
          t.ok = false;
          t.failure = cleanupFailure(t.leftUndone.length, total);
          return;
        }
        if (input.scrub) {
          for (const cmd of await scrubCommands(input.scrub)) {
            const r = await conn.exec(asRoot(cmd, input.useSudo, input.target.user), {
              timeoutMs: input.commandTimeoutMs,
              signal: t.abort.signal,
            });
            if (r.code !== 0 && !undone.includes(SCRUB_STEP)) undone.push(SCRUB_STEP);
          }
        }
        await conn.exec(asRoot(`rm -rf ${shq(input.stateDir)}`, input.useSudo, input.target.user), {
          timeoutMs: 30_000,
        });
        t.leftUndone = undone;
        t.ok = undone.length === 0;
        if (!t.ok) {
          t.failure = cleanupFailure(undone.length, total);
        }
      } finally {
        conn.close();
      }
    });
  }
}
