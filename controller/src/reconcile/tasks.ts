/**
 * Slow SSH work off the reconcile loop: bootstraps and cleanups run as tracked tasks with
 * timeouts and cancellation. The reconciler starts a task, observes its progress and result, and
 * is told (through `notify`) whenever either changes.
 */
import { BootstrapDataError, type Plan, planBootstrap, shq } from "../cloudinit/plan.js";
import {
  renderRunner,
  runInput,
  SENTINEL_STEP,
  startAndFollowCommand,
  tailCommand,
  watchCommand,
} from "../host/runner.js";
import type { Dialer, ExecResult, SSHConnection, SSHTarget } from "../ssh/executor.js";
import { InputFeed, SSHError } from "../ssh/executor.js";
import { acceptHostKey } from "../ssh/hostkeys.js";

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
  /**
   * Before following a run that exists on the machine already: durably records what the object
   * must carry from then on (its finalizer, the host key seen on first use).
   */
  attach(hostKey?: string): Promise<void>;
  /**
   * Durably marks the object "bootstrap started", before the run is started on the machine,
   * together with the host key to record on first use and the finalizer (one write).
   */
  markStarted(hostKey?: string): Promise<void>;
}

export type TaskFailure = {
  /** Condition reason. */
  reason: string;
  message: string;
  /** Terminal: the machine must not be retried (a failed run is never run again). */
  terminal: boolean;
  presentedKey?: string;
};

export interface TaskState {
  kind: "bootstrap" | "cleanup" | "probe";
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
  abort: AbortController;
}

/** Runs `cmd` as root (through `sudo -n` when the login user is not root). */
export function asRoot(cmd: string, useSudo: boolean, user: string): string {
  return useSudo && user !== "root" ? `sudo -n sh -c ${shq(cmd)}` : `sh -c ${shq(cmd)}`;
}

/** Prints "finished", "running" or "none": the state of the run on the machine. */
function stateProbe(stateDir: string): string {
  const S = shq(stateDir);
  return `if [ -s ${S}/exit ]; then echo finished; elif [ -e ${S}/started ]; then echo running; else echo none; fi`;
}

/** Turns a sudo refusal into a failure, or undefined when sudo works. */
async function checkSudo(conn: SSHConnection, useSudo: boolean, user: string): Promise<TaskFailure | undefined> {
  if (!useSudo || user === "root") return undefined;
  const r = await conn.exec("sudo -n true", { timeoutMs: 15_000 });
  if (r.code === 0) return undefined;
  if (/password is required/i.test(r.stderr)) {
    return {
      reason: "SudoRequiresPassword",
      message: `sudo asks ${user} for a password; capi-remote needs passwordless sudo (NOPASSWD) for this user`,
      terminal: false,
    };
  }
  return { reason: "SudoNotPermitted", message: `${user} may not use sudo on the machine`, terminal: false };
}

function sshFailure(e: unknown): TaskFailure {
  if (e instanceof SSHError) {
    const reason =
      e.reason === "Timeout" || e.reason === "Cancelled" || e.reason === "ConnectionLost"
        ? "HostUnreachable"
        : e.reason;
    // A host that floods the session is not retried into flooding it again.
    const terminal = e.reason === "HostOutputTooLarge";
    return { reason, message: e.message, terminal, ...(e.presentedKey ? { presentedKey: e.presentedKey } : {}) };
  }
  return { reason: "HostUnreachable", message: e instanceof Error ? e.message : String(e), terminal: false };
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
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly dialer: Dialer,
    private readonly notify: (key: string) => void,
    private readonly maxParallel: number,
    private readonly redact: (key: string, text: string) => string,
    private readonly onFinish?: (t: TaskState) => void,
    private readonly warmOpts: {
      max: number;
      idleMs: number;
      /** Debug tracing of a bootstrap's start (timings only; never data). */
      trace?: (key: string, msg: string, fields: Record<string, unknown>) => void;
    } = { max: 64, idleMs: 10 * 60_000 },
  ) {}

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
      const probe = await conn.exec(
        `hostname; ${asRoot(stateProbe(input.stateDir), input.useSudo, input.target.user)}`,
        { timeoutMs: 15_000 },
      );
      const [hostname, onHost] = probe.stdout.trim().split("\n");
      if (probe.code !== 0 || !hostname || !onHost) throw new Error("probe failed");
      w.hostname = hostname.trim();
      w.onHost = onHost.trim();
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
  ): (Required<Pick<Warm, "conn" | "hostname" | "onHost">> & { standby?: Standby }) | undefined {
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
    return { conn: w.conn, hostname: w.hostname, onHost: w.onHost, ...(standby ? { standby } : {}) };
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

  private async slot(signal: AbortSignal): Promise<void> {
    while (this.running >= this.maxParallel) {
      await new Promise<void>((r) => this.waiting.push(r));
      if (signal.aborted) throw new SSHError("Cancelled", "cancelled");
    }
    this.running++;
  }

  private release(): void {
    this.running--;
    this.waiting.shift()?.();
  }

  private launch(key: string, kind: TaskState["kind"], body: (t: TaskState) => Promise<void>): TaskState {
    const t: TaskState = { kind, running: true, startedAt: new Date(), abort: new AbortController() };
    this.tasks.set(key, t);
    void (async () => {
      let got = false;
      try {
        await this.slot(t.abort.signal);
        got = true;
        await body(t);
      } catch (e) {
        t.ok = false;
        t.failure ??= sshFailure(e);
      } finally {
        if (got) this.release();
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
    return this.launch(key, "bootstrap", async (t) => {
      const since = () => Date.now() - t.startedAt.getTime();
      const timing: Record<string, number> = { slot: since() };
      const conn = warm?.conn ?? (await this.dialer.dial(input.target, t.abort.signal));
      const killTimer = setTimeout(() => t.abort.abort(), input.bootstrapTimeoutMs);
      try {
        t.hostKey = conn.hostKey;
        const root = (cmd: string) => asRoot(cmd, input.useSudo, input.target.user);
        let onHost: string;
        if (warm) {
          // Learned over this connection while waiting for the data (prepare). A run started
          // since by someone else is still caught: the start command's gate on the machine.
          t.hostname = warm.hostname;
          onHost = warm.onHost;
        } else {
          const sudo = await checkSudo(conn, input.useSudo, input.target.user);
          if (sudo) {
            t.failure = sudo;
            t.ok = false;
            return;
          }
          const probe = await conn.exec(`hostname; ${root(stateProbe(input.stateDir))}`, {
            timeoutMs: 30_000,
            signal: t.abort.signal,
          });
          const [hostname = "", state = ""] = probe.stdout.trim().split("\n");
          if (probe.code !== 0 || !state)
            throw new SSHError("ConnectionLost", `could not read the machine's state (exit ${probe.code})`);
          t.hostname = hostname.trim();
          onHost = state.trim();
        }
        // A key seen for the first time is recorded before the bootstrap runs: with the start
        // (one write) or, when a run exists already, on its own.
        const firstUse =
          input.target.hostKeys.mode === "tofu" && !input.target.hostKeys.recorded ? conn.hostKey : undefined;
        let plan: Plan | undefined;
        let runner: string | undefined;
        let marked: Promise<void> | undefined;
        if (onHost !== "none") await input.attach(firstUse);
        if (onHost === "none") {
          try {
            plan = planBootstrap(input.data.value, input.data.format, {
              commandsAsScript: input.commandsAsScript,
              hostname: t.hostname,
            });
          } catch (e) {
            if (e instanceof BootstrapDataError) {
              t.failure = { reason: e.reason, message: e.message, terminal: true };
              t.ok = false;
              return;
            }
            throw e;
          }
          t.ignoredKeys = plan.ignoredKeys;
          t.steps = plan.steps.length;
          timing.connected = since();
          marked = input.markStarted(firstUse).then(() => {
            timing.marked = since();
          });
          // Handled by the exec below (stdinLast); this only keeps a failure before it from
          // counting as an unhandled rejection.
          marked.catch(() => {});
          runner = renderRunner(plan, {
            stateDir: input.stateDir,
            workingDir: input.workingDir,
            commandTimeoutSeconds: input.commandTimeoutSeconds,
            owner: input.owner,
          });
        }
        // One exec starts the run (unless one exists) and follows it to its end.
        let exitLine = "";
        let began = "";
        const onLine = (line: string) => {
          const m = /^(?:progress )?(\d+) (\d+) (.*)$/.exec(line);
          if (m) {
            t.step = Number(m[1]);
            t.steps = Number(m[2]);
            t.stepName = m[3];
            this.notify(key);
          } else if (line.startsWith("exit ")) exitLine = line;
          // "started" is the run's first progress line, seen live through `tail -f` or, after
          // the run, through the watch that replays the whole progress file ("progress
          // started"). The live stream is not enough: where tail cannot use inotify (overlayfs,
          // NFS) it polls once a second, and the follower is stopped when the run ends, so a run
          // shorter than that showed nothing live and was taken for one that never started.
          else if (!began && (line === "started" || line === "progress started" || line === "attached")) {
            began = line;
            timing.started = since();
            this.warmOpts.trace?.(key, `bootstrap ${line} on the machine (ms since the task began)`, {
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
        if (runner && !began)
          throw new SSHError("ConnectionLost", `could not start the bootstrap (exit ${watched.code})`);
        if (watched.code !== 0 || !exitLine)
          throw new SSHError("ConnectionLost", "lost the bootstrap's progress stream");
        const [, codeText, stepText] = exitLine.split(" ");
        if (codeText === "none") throw new SSHError("ConnectionLost", "no bootstrap run found on the machine");
        const code = Number(codeText);
        const step = Number(stepText);
        t.exitCode = code;
        if (code === 0) {
          t.ok = true;
          return;
        }
        const tail = this.redact(
          key,
          (await conn.exec(root(tailCommand(input.stateDir, 15)), { timeoutMs: 15_000, keepLast: true })).stdout,
        );
        t.ok = false;
        t.failure =
          step === SENTINEL_STEP
            ? {
                reason: "BootstrapSentinelMissing",
                message: `every step succeeded but /run/cluster-api/bootstrap-success.complete was not created. Last output:\n${tail}`,
                terminal: true,
              }
            : {
                reason: "BootstrapFailed",
                message: `step ${step}${t.steps ? ` of ${t.steps}` : ""}${t.stepName && t.step === step ? ` (${t.stepName})` : ""} failed with exit code ${code}${code === 124 ? " (timed out)" : ""}. Last output:\n${tail}`,
                terminal: true,
              };
      } catch (e) {
        if (t.abort.signal.aborted && Date.now() - t.startedAt.getTime() >= input.bootstrapTimeoutMs) {
          t.failure = {
            reason: "BootstrapTimedOut",
            message: `the bootstrap did not finish within ${Math.round(input.bootstrapTimeoutMs / 1000)} s`,
            terminal: true,
          };
          await this.killRun(input).catch(() => {});
        }
        throw e;
      } finally {
        clearTimeout(killTimer);
        conn.close();
      }
    });
  }

  private async killRun(input: BootstrapInput): Promise<void> {
    const conn = await this.dialer.dial(input.target);
    try {
      await conn.exec(
        asRoot(
          `pkill -f ${shq(`${input.stateDir}/run.sh`)}; echo "124 0" > ${shq(input.stateDir)}/exit`,
          input.useSudo,
          input.target.user,
        ),
        { timeoutMs: 15_000 },
      );
    } finally {
      conn.close();
    }
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
        if (!t.ok)
          t.failure = { reason: "ProbeFailed", message: `the command exited with code ${r.code}`, terminal: false };
      } finally {
        conn.close();
      }
    });
  }

  /** Runs cleanup commands, then removes capi-remote's state from the machine. */
  startCleanup(
    key: string,
    input: { target: SSHTarget; useSudo: boolean; commands: string[]; stateDir: string; commandTimeoutMs: number },
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
        await conn.exec(asRoot(`rm -rf ${shq(input.stateDir)}`, input.useSudo, input.target.user), {
          timeoutMs: 30_000,
        });
        t.leftUndone = undone;
        t.ok = undone.length === 0;
        if (!t.ok) {
          t.failure = {
            reason: "CleanupFailed",
            message: `${undone.length} of ${input.commands.length} cleanup commands failed`,
            terminal: false,
          };
        }
      } finally {
        conn.close();
      }
    });
  }
}
