/**
 * One object's conversations with its machine: prepare (connect ahead of the data, verify the host
 * key, sudo, learn the run's state), bootstrap (gate, start, follow, or attach to a found run),
 * kill (stop a run and prove it), cleanup (stop, then the cleanup commands, then the state) and
 * probe (one read-only command). Each method returns a `Conversation` the caller runs when and
 * where it likes (the controllers run them as tasks, tasks/taskmanager.ts); this module speaks SSH
 * and the host's wire protocol (../protocol.ts) and knows nothing of tasks, slots or the API.
 */
import { shq } from "../../cloudinit/plan.js";
import type { Dialer, SSHConnection } from "../../ssh/executor.js";
import { LEFTOVERS_STEP, SCRUB_STEP, scrubCommands, stopLeftovers } from "../../ssh/scrub.js";
import {
  asRoot,
  cleanupFailure,
  KILLED,
  type KillOutcome,
  killRunCommand,
  parseKill,
  probeFailure,
  provablyDead,
} from "../protocol.js";
import { bootstrapConversation } from "./bootstrap.js";
import {
  type BootstrapInput,
  type CleanupInput,
  type Conversation,
  type ProbeInput,
  runNotStopped,
  type StopInput,
} from "./report.js";
import { checkSudo, targetFingerprint, type WarmInput, type WarmOptions, WarmPool } from "./warm.js";

export type {
  BootstrapInput,
  CleanupInput,
  Conversation,
  HostKind,
  HostReport,
  ProbeInput,
  StopInput,
} from "./report.js";
export { LANE } from "./report.js";

/** Seconds a stopped run's processes get between TERM and KILL. */
const KILL_GRACE_SECONDS = 10;

export interface HostSessionOptions {
  warm: WarmOptions;
  /** Debug tracing of a bootstrap's start (timings only; never data). */
  trace?: (key: string, msg: string, fields: Record<string, unknown>) => void;
  /** The clock (ms): a found run's deadline is counted on it. */
  now?: () => number;
}

export class HostSessions {
  private readonly warm: WarmPool;
  private readonly now: () => number;

  constructor(
    private readonly dialer: Dialer,
    /** Removes the words of the object's Secrets from text read on the machine. */
    private readonly redact: (key: string, text: string) => string,
    private readonly opts: HostSessionOptions = { warm: { max: 64, idleMs: 10 * 60_000 } },
  ) {
    this.now = opts.now ?? Date.now;
    this.warm = new WarmPool(dialer, opts.warm, this.now);
  }

  /**
   * Opens the SSH connection of a machine that waits only for its bootstrap data, and learns
   * what the bootstrap will need first (host key checked against the policy; sudo; the
   * hostname; whether a run exists on the machine). When the data arrives, `bootstrap` uses it
   * and only has to upload and start the run: the reaction is one round trip instead of a
   * handshake and four. Best effort and bounded: at most `max` connections are kept, each for at
   * most `idleMs`; any failure just leaves the bootstrap to connect as usual (and report it).
   */
  prepare(key: string, input: WarmInput): void {
    this.warm.prepare(key, input);
  }

  /** Closes a warm connection (the machine was deleted, provisioned, or changed). */
  dropWarm(key: string): void {
    this.warm.drop(key);
  }

  /** Whether a ready warm connection waits for this key. */
  isWarm(key: string): boolean {
    return this.warm.isWarm(key);
  }

  /** Number of warm connections, for metrics and tests. */
  get warmCount(): number {
    return this.warm.count;
  }

  /** Closes every warm connection (shutdown). */
  close(): void {
    this.warm.dropAll();
  }

  /** Starts (or re-attaches to) the bootstrap of a machine; takes its warm connection now. */
  bootstrap(key: string, input: BootstrapInput): Conversation {
    const warm = this.warm.take(key, input.target, targetFingerprint(input));
    return bootstrapConversation(
      {
        dialer: this.dialer,
        redact: (text) => this.redact(key, text),
        now: this.now,
        trace: this.opts.trace && ((msg, fields) => this.opts.trace?.(key, msg, fields)),
        killOn: (conn, inp, code) => this.killOn(conn, inp, code),
      },
      input,
      warm,
    );
  }

  /** Stops a run over `conn` (or a new connection when that one is gone); see killRunCommand. */
  private async killOn(conn: SSHConnection | undefined, input: StopInput, code: number): Promise<KillOutcome> {
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
   * proves it: `killed` says what was found, `ok` is true only when no process of the run is left
   * (or none ever ran; then the gate is taken so none can start later). Used before anything is
   * cleaned up on deletion; a pool machine goes back only after this.
   */
  kill(input: StopInput): Conversation {
    return async (r, signal) => {
      const conn = await this.dialer.dial(input.target, signal);
      try {
        r.hostKey = conn.hostKey;
        const sudo = await checkSudo(conn, input.useSudo, input.target.user);
        if (sudo) {
          r.failure = sudo;
          r.ok = false;
          return;
        }
        r.killed = await this.killOn(conn, input, KILLED);
        r.ok = provablyDead(r.killed);
        if (!r.ok) r.failure = runNotStopped(r.killed);
      } finally {
        conn.close();
      }
    };
  }

  /**
   * Runs one read-only command as the login user (for pool machine facts) and keeps its output.
   * A host key seen for the first time is recorded through `recordHostKey` before anything runs.
   */
  probe(key: string, input: ProbeInput): Conversation {
    return async (r, signal) => {
      const conn = await this.dialer.dial(input.target, signal);
      try {
        r.hostKey = conn.hostKey;
        if (input.target.hostKeys.mode === "tofu" && !input.target.hostKeys.recorded)
          await input.recordHostKey(conn.hostKey);
        const res = await conn.exec(input.command, { timeoutMs: input.timeoutMs, signal });
        r.output = this.redact(key, res.stdout);
        r.ok = res.code === 0;
        if (!r.ok) r.failure = probeFailure(res.code);
      } finally {
        conn.close();
      }
    };
  }

  /**
   * Stops the bootstrap run on the machine (its whole session; a cleanup never races a run), then
   * runs the cleanup commands, then removes capi-remote's state from the machine. When the run
   * cannot be proven stopped, nothing else is done and the cleanup fails (to be retried).
   */
  cleanup(input: CleanupInput): Conversation {
    return async (r, signal) => {
      const conn = await this.dialer.dial(input.target, signal);
      const root = (cmd: string) => asRoot(cmd, input.useSudo, input.target.user);
      try {
        const sudo = await checkSudo(conn, input.useSudo, input.target.user);
        if (sudo) {
          Object.assign(r, { failure: sudo, ok: false, leftUndone: input.commands });
          return;
        }
        r.killed = await this.killOn(conn, input, KILLED);
        if (!provablyDead(r.killed)) {
          Object.assign(r, { failure: runNotStopped(r.killed), ok: false, leftUndone: input.commands });
          return;
        }
        const undone: string[] = [];
        for (const cmd of input.commands) {
          const res = await conn
            .exec(root(cmd), { timeoutMs: input.commandTimeoutMs, signal })
            .catch((e: unknown) => ({ code: -1, stdout: "", stderr: e instanceof Error ? e.message : String(e) }));
          if (res.code !== 0) undone.push(cmd);
        }
        const total = input.commands.length + (input.scrub ? 2 : 1);
        // What the run left (daemons, also outside its session) goes after the commands, which
        // may need it to stop cleanly; while any of it lives, nothing more is removed.
        const exec = (cmd: string, timeoutMs: number) => conn.exec(root(cmd), { timeoutMs, signal });
        r.leftovers = await stopLeftovers(exec, input.stateDir, KILL_GRACE_SECONDS);
        if (!provablyDead(r.leftovers)) {
          r.leftUndone = [...undone, LEFTOVERS_STEP];
          r.ok = false;
          r.failure = cleanupFailure(r.leftUndone.length, total);
          return;
        }
        if (input.scrub) {
          for (const cmd of await scrubCommands(input.scrub)) {
            const res = await conn.exec(root(cmd), { timeoutMs: input.commandTimeoutMs, signal });
            if (res.code !== 0 && !undone.includes(SCRUB_STEP)) undone.push(SCRUB_STEP);
          }
        }
        await conn.exec(root(`rm -rf ${shq(input.stateDir)}`), { timeoutMs: 30_000 });
        r.leftUndone = undone;
        r.ok = undone.length === 0;
        if (!r.ok) r.failure = cleanupFailure(undone.length, total);
      } finally {
        conn.close();
      }
    };
  }
}
