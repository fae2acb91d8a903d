/**
 * A Dialer for unit tests of what sits above SSH (the task manager, the reconcilers): a scripted
 * host. Nothing runs: each command is answered by the first rule that matches it, with stdout
 * lines (each passed to `onLine`), an exit code, a wait the test controls, or a dropped
 * connection. It consumes stdin as a channel does (an answer comes only after `stdinLast` has
 * resolved), and a command waiting when its signal aborts ends as a cancelled exec. Every
 * command is recorded, so a test can say what was (and was not) run. LocalDialer (fake.ts) runs
 * commands under a real shell instead, for the host programs themselves.
 */
import type { Dialer, ExecOptions, ExecResult, SSHConnection, SSHTarget } from "./executor.js";
import { SSHError } from "./executor.js";

export interface Reply {
  /** stdout lines, in order. */
  lines?: string[];
  code?: number;
  /** Answer only once this resolves (a step the test releases). */
  until?: Promise<unknown>;
  /** The connection drops instead of answering. */
  drop?: boolean;
}

export interface Rule {
  match: RegExp | ((command: string) => boolean);
  reply: Reply | ((command: string) => Reply);
}

export const SCRIPTED_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIScriptedHostKeyForUnitTestsOnly000000000000";

export class ScriptedDialer implements Dialer {
  /** Every command run, in order. */
  readonly commands: string[] = [];
  dials = 0;
  /** When set, dials fail with it (a host that is down, a refused key). */
  dialError?: SSHError;
  private readonly open = new Set<ScriptedConnection>();

  constructor(private readonly rules: Rule[]) {}

  async dial(_target: SSHTarget, signal?: AbortSignal): Promise<SSHConnection> {
    if (signal?.aborted) throw new SSHError("Cancelled", "cancelled");
    this.dials++;
    if (this.dialError) throw this.dialError;
    const c = new ScriptedConnection(this, () => this.open.delete(c));
    this.open.add(c);
    return c;
  }

  /** Cuts every open connection (the link went down). */
  dropAll(): void {
    for (const c of [...this.open]) c.close();
  }

  /** The reply for `command` (the first matching rule; exit 127 when none matches). */
  replyFor(command: string): Reply {
    const rule = this.rules.find((r) => (typeof r.match === "function" ? r.match(command) : r.match.test(command)));
    if (!rule) return { code: 127 };
    return typeof rule.reply === "function" ? rule.reply(command) : rule.reply;
  }
}

class ScriptedConnection implements SSHConnection {
  readonly hostKey = SCRIPTED_HOST_KEY;
  private closed = false;
  private readonly closers: (() => void)[] = [];

  constructor(
    private readonly dialer: ScriptedDialer,
    private readonly onGone: () => void,
  ) {}

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) throw new SSHError("ConnectionLost", "the connection is closed");
    this.dialer.commands.push(command);
    // Stdin is read before the command answers (and before a reply function looks at the
    // world), as a host reads its script first.
    if (opts.input) for await (const _ of opts.input);
    if (opts.stdinLast) await opts.stdinLast;
    const reply = this.dialer.replyFor(command);
    if (reply.until) await this.wait(reply.until, opts.signal);
    if (reply.drop) {
      this.close();
      throw new SSHError("ConnectionLost", "the connection dropped");
    }
    const lines = reply.lines ?? [];
    for (const l of lines) opts.onLine?.(l);
    return { code: reply.code ?? 0, stdout: lines.length ? `${lines.join("\n")}\n` : "", stderr: "" };
  }

  /** Waits for `p`; an abort or a dropped connection ends the exec as they end a real one. */
  private wait(p: Promise<unknown>, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new SSHError("Cancelled", "cancelled"));
      const onAbort = () => reject(new SSHError("Cancelled", "cancelled"));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.closers.push(() => reject(new SSHError("ConnectionLost", "the connection dropped")));
      p.then(
        () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        (e: unknown) => reject(e),
      );
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.closers) c();
    this.onGone();
  }

  onClose(cb: () => void): void {
    this.closers.push(cb);
  }
}
