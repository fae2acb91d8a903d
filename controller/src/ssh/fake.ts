/**
 * A Dialer for unit tests whose "host" is this machine: every command runs under the real
 * /bin/sh (dash on Debian), with stdin, streaming lines, timeouts, cancellation and dropped
 * connections as the SSH executor has them. It proves the host programs and the task logic
 * together without an sshd; the SSH transport itself is proven by the test bed's real OpenSSH
 * hosts. A connection can be dropped (`dropAll`), which ends its commands as a cut link does.
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { Dialer, ExecOptions, ExecResult, SSHConnection, SSHTarget } from "./executor.js";
import { SSHError } from "./executor.js";

/** The most output a command keeps per stream (the rest is dropped, as a bounded executor would). */
const KEEP = 1 << 20;

export class LocalDialer implements Dialer {
  readonly conns = new Set<LocalConnection>();
  dials = 0;

  async dial(_target: SSHTarget, signal?: AbortSignal): Promise<SSHConnection> {
    if (signal?.aborted) throw new SSHError("Cancelled", "cancelled");
    this.dials++;
    const c = new LocalConnection(() => this.conns.delete(c));
    this.conns.add(c);
    return c;
  }

  /** Cuts every open connection (the link went down). */
  dropAll(): void {
    for (const c of [...this.conns]) c.close();
  }
}

class LocalConnection implements SSHConnection {
  readonly hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeLocalHostKeyForTestsOnly0000000000000";
  private readonly children = new Set<ChildProcess>();
  private readonly closers: (() => void)[] = [];
  private closed = false;

  constructor(private readonly onGone: () => void) {}

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new SSHError("ConnectionLost", "connection closed"));
    // A process group of its own, as sshd gives a session: a cut link ends the whole group.
    const child = spawn("sh", ["-c", command], { detached: true, stdio: ["pipe", "pipe", "pipe"] });
    this.children.add(child);
    let stdout = "";
    let stderr = "";
    let partial = "";
    let failure: SSHError | undefined;
    const end = (why: SSHError) => {
      failure ??= why;
      hangUp(child);
    };
    child.stdout?.setEncoding("utf8").on("data", (s: string) => {
      if (stdout.length < KEEP) stdout += s.slice(0, KEEP - stdout.length);
      if (!opts.onLine) return;
      // Only the new chunk is split: linear in the output.
      const parts = (partial + s).split("\n");
      partial = (parts.pop() ?? "").slice(-KEEP);
      for (const l of parts) opts.onLine(l);
    });
    child.stderr?.setEncoding("utf8").on("data", (s: string) => {
      if (stderr.length < KEEP) stderr += s.slice(0, KEEP - stderr.length);
    });
    child.stdin?.on("error", () => {});
    const timer = opts.timeoutMs
      ? setTimeout(() => end(new SSHError("Timeout", "command timed out")), opts.timeoutMs)
      : undefined;
    const onAbort = () => end(new SSHError("Cancelled", "cancelled"));
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    void this.feed(child, opts).catch((e: unknown) =>
      end(e instanceof SSHError ? e : new SSHError("ConnectionLost", String(e))),
    );
    return new Promise((resolve, reject) => {
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
        this.children.delete(child);
        if (partial && opts.onLine) opts.onLine(partial);
        if (failure) reject(failure);
        else resolve({ code, ...(signal ? { signal } : {}), stdout, stderr });
      });
    });
  }

  private async feed(child: ChildProcess, opts: ExecOptions): Promise<void> {
    const stdin = child.stdin;
    if (!stdin) return;
    if (opts.stdin) stdin.write(opts.stdin);
    if (opts.stdinLast) stdin.write(await opts.stdinLast);
    if (opts.input) for await (const chunk of opts.input) stdin.write(chunk);
    stdin.end();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.children) hangUp(c);
    this.onGone();
    for (const cb of this.closers) cb();
  }

  onClose(cb: () => void): void {
    this.closers.push(cb);
  }
}

/** What a cut SSH session does to its command: its pipes close and its process group gets SIGHUP. */
function hangUp(child: ChildProcess): void {
  child.stdin?.destroy();
  try {
    if (child.pid) process.kill(-child.pid, "SIGHUP");
  } catch {
    // Gone already.
  }
}
