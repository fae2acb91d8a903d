/**
 * Connections opened ahead of the bootstrap data (`HostSessions.prepare`): the host key checked,
 * sudo tried, the hostname and the run's state learned, and, when no run exists, the start
 * command already waiting on the machine for the script. Best effort and bounded.
 */
import type { Dialer, ExecResult, SSHConnection, SSHTarget } from "../../ssh/executor.js";
import { InputFeed } from "../../ssh/executor.js";
import { acceptHostKey } from "../../ssh/hostkeys.js";
import { namespaceOfKey } from "../../ssh/slots.js";
import type { TaskFailure } from "../protocol.js";
import { asRoot, needsSudo, parseStateProbe, SUDO_CHECK, stateProbeCommand, sudoFailure } from "../protocol.js";
import { runInput, startAndFollowCommand } from "../runner.js";
import type { BootstrapInput } from "./report.js";

/** Turns a sudo refusal into a failure, or undefined when sudo works. */
export async function checkSudo(conn: SSHConnection, useSudo: boolean, user: string): Promise<TaskFailure | undefined> {
  if (!needsSudo(useSudo, user)) return undefined;
  return sudoFailure(await conn.exec(SUDO_CHECK, { timeoutMs: 15_000 }), user);
}

export interface Standby {
  feed: InputFeed;
  result: Promise<ExecResult>;
  abort: AbortController;
  onLine: (line: string) => void;
  ended: boolean;
}

interface Warm {
  /** The target it was opened for (address, port, user, key, host-key policy). */
  fingerprint: string;
  conn?: SSHConnection;
  hostname?: string;
  /** "none", "running" or "finished": the run's state on the machine when it was probed. */
  onHost?: string;
  /** The run's record on the machine (who it ran for), when one exists. */
  identity?: string;
  /** For a run: its age on the machine when probed, and when that was (ms, this clock). */
  ageSeconds?: number;
  probedAt?: number;
  closed: boolean;
  timer?: NodeJS.Timeout;
  /**
   * The start command, already running on the machine and waiting for the runner on stdin
   * (opened when no run exists yet): the bootstrap then only sends the script.
   */
  standby?: Standby;
}

/** What a bootstrap takes from a ready warm connection. */
export interface Taken {
  conn: SSHConnection;
  hostname: string;
  onHost: string;
  identity: string;
  ageSeconds?: number;
  probedAt?: number;
  standby?: Standby;
}

/** A target's identity for warm-connection reuse; the key material is compared, never logged. */
export type WarmInput = Pick<
  BootstrapInput,
  "target" | "useSudo" | "stateDir" | "commandTimeoutSeconds" | "workingDir"
>;

export function targetFingerprint(input: WarmInput): string {
  const t = input.target;
  // A first-use key recorded by the warm connection itself must not make it look stale: the
  // key it holds is checked against the policy when it is taken (take).
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

export interface WarmOptions {
  max: number;
  /** Warm connections one namespace may hold (default: all of `max`). */
  perNamespace?: number;
  idleMs: number;
}

export class WarmPool {
  private readonly warm = new Map<string, Warm>();

  constructor(
    private readonly dialer: Dialer,
    private readonly opts: WarmOptions,
    private readonly now: () => number,
  ) {}

  /** See HostSessions.prepare. */
  prepare(key: string, input: WarmInput): void {
    const fingerprint = targetFingerprint(input);
    const have = this.warm.get(key);
    if (have && !have.closed && have.fingerprint === fingerprint) return;
    if (have) this.drop(key);
    if (this.warm.size >= this.opts.max) return;
    // A namespace's machines that never answer hold at most its share of the warm connections.
    const ns = namespaceOfKey(key);
    let mine = 0;
    for (const k of this.warm.keys()) if (namespaceOfKey(k) === ns) mine++;
    if (mine >= (this.opts.perNamespace ?? this.opts.max)) return;
    const w: Warm = { fingerprint, closed: false };
    this.warm.set(key, w);
    w.timer = setTimeout(() => this.drop(key), this.opts.idleMs);
    w.timer.unref();
    this.open(key, w, input).catch(() => {
      // Not warm after all: the bootstrap connects itself and reports what goes wrong.
      if (this.warm.get(key) === w) this.drop(key);
    });
  }

  private async open(key: string, w: Warm, input: WarmInput): Promise<void> {
    const conn = await this.dialer.dial(input.target);
    if (w.closed) return conn.close();
    w.conn = conn;
    conn.onClose?.(() => {
      if (this.warm.get(key) === w) this.drop(key);
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
    w.ageSeconds = probe.ageSeconds;
    w.probedAt = this.now();
    if (w.onHost === "none" && !w.closed) w.standby = standby(conn, input);
  }

  /** Closes a warm connection (the machine was deleted, provisioned, or changed). */
  drop(key: string): void {
    const w = this.warm.get(key);
    if (!w) return;
    this.warm.delete(key);
    w.closed = true;
    clearTimeout(w.timer);
    w.conn?.close();
  }

  dropAll(): void {
    for (const key of [...this.warm.keys()]) this.drop(key);
  }

  /** Whether a ready warm connection waits for this key. */
  isWarm(key: string): boolean {
    const w = this.warm.get(key);
    return !!w && !w.closed && !!w.onHost;
  }

  get count(): number {
    return this.warm.size;
  }

  /** Takes a ready warm connection for this target, if there is one. */
  take(key: string, target: SSHTarget, fingerprint: string): Taken | undefined {
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
    const sb = w.standby && !w.standby.ended ? w.standby : undefined;
    if (w.standby && !sb) w.standby.feed.fail(new Error("unused"));
    return {
      conn: w.conn,
      hostname: w.hostname,
      onHost: w.onHost,
      identity: w.identity ?? "",
      ...(w.ageSeconds !== undefined ? { ageSeconds: w.ageSeconds, probedAt: w.probedAt } : {}),
      ...(sb ? { standby: sb } : {}),
    };
  }
}

/**
 * The start command, made to wait on the machine for the script: its sshd session, shell, state
 * directory, detached run and progress stream are made now, off the path from the bootstrap data
 * to the first command (each process start costs the machine milliseconds, and a burst of
 * machines may share a host's CPU).
 */
function standby(conn: SSHConnection, input: WarmInput): Standby {
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
  const ended = () => {
    sb.ended = true;
  };
  sb.result.then(ended, ended);
  // The run's state directory and watchdog, started now too.
  sb.feed.push(runInput.preamble(input.stateDir, input.commandTimeoutSeconds, input.workingDir));
  return sb;
}
