/**
 * SSH side effects behind an interface: the reconcilers use a Dialer; `Ssh2Dialer` is the real
 * one (ssh2), unit tests may use fakes. Every failure is an SSHError with a reason that maps to a
 * condition; messages never include key material.
 */
import ssh2, { type ClientChannel, type ConnectConfig } from "ssh2";
import { acceptHostKey, formatHostKey, type HostKeyPolicy, hostKeyAlgorithms } from "./hostkeys.js";
import { LineSplitter, OUTPUT_LIMITS, Tail } from "./output.js";

export { InputFeed } from "./inputfeed.js";
export { LineSplitter, OUTPUT_LIMITS, Tail } from "./output.js";

// ssh2 is CommonJS: take its members from the default export.
const { Client, utils } = ssh2;
type Client = InstanceType<typeof Client>;

export interface SSHTarget {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  passphrase?: string;
  hostKeys: HostKeyPolicy;
  connectTimeoutMs: number;
  keepaliveIntervalMs?: number;
  /** A jump host the connection goes through. */
  bastion?: Omit<SSHTarget, "bastion" | "connectTimeoutMs">;
}

export interface ExecResult {
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  stdin?: string;
  /**
   * The rest of stdin, sent (and stdin closed) when it resolves. Lets a command start and read
   * most of its input while the caller still waits for something; when it rejects, the channel
   * is closed without it (the command sees a short input) and the exec rejects with its error.
   */
  stdinLast?: Promise<string>;
  /**
   * stdin as it becomes known: each chunk is sent as it comes and stdin is closed when the
   * iteration ends; if it throws, the channel is closed (the command sees a short input) and the
   * exec rejects with its error. Lets a command start before its input exists.
   */
  input?: AsyncIterable<string>;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Each complete stdout line as it arrives. */
  onLine?: (line: string) => void;
  /**
   * Bytes of stdout kept (default OUTPUT_LIMITS.stdoutBytes). Without onLine, more output fails
   * the exec (HostOutputTooLarge); with onLine, only the last this many bytes are kept.
   */
  maxStdoutBytes?: number;
  /** Keep the last maxStdoutBytes of stdout instead of failing when there is more (a tail of output). */
  keepLast?: boolean;
  /** Longest stdout line passed to onLine (default OUTPUT_LIMITS.lineBytes); a longer one fails the exec. */
  maxLineBytes?: number;
}

export interface SSHConnection {
  /** The key the host presented, "type base64". */
  readonly hostKey: string;
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  close(): void;
  /** Calls `cb` when the connection ends, whoever ended it (keep-alives notice a dead link). */
  onClose?(cb: () => void): void;
}

export interface Dialer {
  dial(target: SSHTarget, signal?: AbortSignal): Promise<SSHConnection>;
}

export type SSHErrorReason =
  | "HostUnreachable"
  | "HostKeyMismatch"
  | "AuthenticationFailed"
  | "InvalidSSHKey"
  | "Timeout"
  | "Cancelled"
  | "ConnectionLost"
  | "HostOutputTooLarge";

export class SSHError extends Error {
  constructor(
    readonly reason: SSHErrorReason,
    message: string,
    /** For HostKeyMismatch: the key the host presented. */
    readonly presentedKey?: string,
  ) {
    super(message);
    this.name = "SSHError";
  }
}

function classify(e: Error & { level?: string; code?: string }, where: string, connectMs: number): SSHError {
  if (e instanceof SSHError) return e;
  if (e.level === "client-authentication") {
    return new SSHError(
      "AuthenticationFailed",
      `${where}: the machine refused the SSH key (publickey authentication failed)`,
    );
  }
  if (/Timed out while waiting for handshake/.test(e.message) || e.code === "ETIMEDOUT") {
    // Names the limit: a host that trickles or floods its handshake is given up at it.
    return new SSHError(
      "HostUnreachable",
      `${where}: no SSH answer in time (${e.code ?? "handshake timeout"}; the limit is spec.timeouts.connectSeconds, ${connectMs / 1000} s)`,
    );
  }
  if (e.code && /^E(CONNREFUSED|HOSTUNREACH|NETUNREACH|CONNRESET|NOTFOUND|AI_AGAIN|ADDRNOTAVAIL)$/.test(e.code)) {
    return new SSHError("HostUnreachable", `${where}: ${e.code}`);
  }
  return new SSHError("HostUnreachable", `${where}: ${e.message}`);
}

/** Checks a private key before connecting; the message never contains the key. */
export function checkPrivateKey(key: string, passphrase?: string): SSHError | undefined {
  const parsed = utils.parseKey(key, passphrase);
  if (parsed instanceof Error) {
    if (/no passphrase|passphrase/i.test(parsed.message)) {
      return new SSHError(
        "InvalidSSHKey",
        passphrase
          ? "the SSH key could not be decrypted with the passphrase in the key Secret"
          : "the SSH key is encrypted: add its passphrase to the key Secret under the key `passphrase`",
      );
    }
    return new SSHError(
      "InvalidSSHKey",
      "the SSH key Secret's `value` is not a private key ssh2 can read (OpenSSH or PEM: RSA, ECDSA, Ed25519)",
    );
  }
  return undefined;
}

/** Sends a command's stdin as ExecOptions describe it (input, stdin + stdinLast, or stdin). */
function feedStdin(
  stream: ClientChannel,
  opts: ExecOptions,
  last: Promise<{ text: string } | { error: unknown }> | undefined,
  isDone: () => boolean,
  finish: (fn: () => void) => void,
  reject: (e: unknown) => void,
): void {
  if (opts.input) {
    const input = opts.input;
    void (async () => {
      try {
        for await (const chunk of input) {
          if (isDone()) return;
          stream.write(chunk);
        }
        if (!isDone()) stream.end();
      } catch (e) {
        if (isDone()) return;
        stream.close();
        finish(() => reject(e));
      }
    })();
    return;
  }
  if (!last) {
    stream.end(opts.stdin ?? "");
    return;
  }
  stream.write(opts.stdin ?? "");
  void last.then((r) => {
    if (isDone()) return;
    if ("text" in r) return stream.end(r.text);
    stream.close();
    finish(() => reject(r.error));
  });
}

class Ssh2Connection implements SSHConnection {
  constructor(
    private readonly client: Client,
    readonly hostKey: string,
    private readonly uncount: () => void,
    private readonly jump?: Client,
  ) {}

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    // Settled-safe from here on: a rejection before the channel opens is not left unhandled.
    const last = opts.stdinLast?.then(
      (text) => ({ text }),
      (error: unknown) => ({ error }),
    );
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) return reject(new SSHError("Cancelled", "cancelled"));
      this.client.exec(command, (err, stream: ClientChannel) => {
        if (err) return reject(new SSHError("ConnectionLost", `could not start a command: ${err.message}`));
        const maxOut = opts.maxStdoutBytes ?? OUTPUT_LIMITS.stdoutBytes;
        const maxLine = opts.maxLineBytes ?? OUTPUT_LIMITS.lineBytes;
        const stdout = new Tail(maxOut);
        const stderr = new Tail(OUTPUT_LIMITS.stderrBytes);
        const lines = opts.onLine ? new LineSplitter(maxLine, opts.onLine) : undefined;
        let done = false;
        const finish = (fn: () => void) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          opts.signal?.removeEventListener("abort", onAbort);
          fn();
        };
        const onAbort = () => {
          stream.close();
          finish(() => reject(new SSHError("Cancelled", "cancelled")));
        };
        const tooLarge = (message: string) => {
          stream.close();
          finish(() => reject(new SSHError("HostOutputTooLarge", message)));
        };
        opts.signal?.addEventListener("abort", onAbort, { once: true });
        const timer = opts.timeoutMs
          ? setTimeout(() => {
              stream.close();
              finish(() => reject(new SSHError("Timeout", `the command did not finish within ${opts.timeoutMs} ms`)));
            }, opts.timeoutMs)
          : undefined;
        stream.on("data", (d: Buffer) => {
          if (done) return;
          stdout.push(d);
          if (!lines && !opts.keepLast && stdout.dropped > 0)
            return tooLarge(`the host sent more than ${maxOut} bytes of output; the command was stopped`);
          if (lines && !lines.push(d))
            return tooLarge(`the host sent a line longer than ${maxLine} bytes; the session was stopped`);
        });
        stream.stderr.on("data", (d: Buffer) => {
          if (!done) stderr.push(d);
        });
        let exit: { code: number | null; signal?: string } | undefined;
        stream.on("exit", (code: number | null, signal?: string) => {
          exit = { code, ...(signal ? { signal } : {}) };
        });
        stream.on("close", () => {
          if (done) return;
          lines?.end();
          const ended = exit;
          if (ended) finish(() => resolve({ ...ended, stdout: stdout.text(), stderr: stderr.text() }));
          else finish(() => reject(new SSHError("ConnectionLost", "the connection closed before the command ended")));
        });
        feedStdin(stream, opts, last, () => done, finish, reject);
      });
    });
  }

  close(): void {
    this.client.end();
    this.jump?.end();
    this.uncount();
  }

  onClose(cb: () => void): void {
    this.client.once("close", cb);
  }
}

function connect(
  target: Omit<SSHTarget, "bastion">,
  where: string,
  signal: AbortSignal | undefined,
  sock?: ConnectConfig["sock"],
): Promise<{ client: Client; hostKey: string }> {
  return new Promise((resolve, reject) => {
    const keyErr = checkPrivateKey(target.privateKey, target.passphrase);
    if (keyErr) return reject(keyErr);
    const client = new Client();
    let presented = "";
    let settled = false;
    const fail = (e: SSHError) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      client.end();
      reject(e);
    };
    const connectMs = "connectTimeoutMs" in target ? (target as SSHTarget).connectTimeoutMs : 15_000;
    const onAbort = () => fail(new SSHError("Cancelled", `${where}: cancelled`));
    signal?.addEventListener("abort", onAbort, { once: true });
    client.on("ready", () => {
      if (settled) return client.end();
      // No Nagle: OpenSSH sets TCP_NODELAY only for sessions with a terminal, and every command
      // is a few small packets each way; with Nagle and delayed ACKs each exec took ~55 ms on a
      // LAN instead of ~12 ms (measured against the test hosts' sshd).
      client.setNoDelay(true);
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      resolve({ client, hostKey: presented });
    });
    client.on("error", (e: Error & { level?: string }) => {
      if (presented && !acceptHostKey(target.hostKeys, presented)) {
        return fail(
          new SSHError("HostKeyMismatch", `${where}: the host key does not match the expected one`, presented),
        );
      }
      fail(classify(e, where, connectMs));
    });
    client.on("close", () => fail(new SSHError("HostUnreachable", `${where}: connection closed during the handshake`)));
    const algs = hostKeyAlgorithms(target.hostKeys);
    client.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey: target.privateKey,
      ...(target.passphrase ? { passphrase: target.passphrase } : {}),
      readyTimeout: connectMs,
      keepaliveInterval: target.keepaliveIntervalMs ?? 10_000,
      keepaliveCountMax: 3,
      ...(sock ? { sock } : {}),
      ...(algs ? { algorithms: { serverHostKey: algs as never } } : {}),
      hostVerifier: (key: Buffer) => {
        presented = formatHostKey(key);
        return acceptHostKey(target.hostKeys, presented);
      },
    });
  });
}

/** The real dialer: ssh2, with a jump host when asked. */
export class Ssh2Dialer implements Dialer {
  open = 0;

  constructor(private readonly onCount?: (open: number) => void) {}

  async dial(target: SSHTarget, signal?: AbortSignal): Promise<SSHConnection> {
    const count = (d: number) => {
      this.open += d;
      this.onCount?.(this.open);
    };
    if (!target.bastion) {
      const { client, hostKey } = await connect(target, `${target.user}@${target.host}:${target.port}`, signal);
      count(1);
      return new Ssh2Connection(client, hostKey, () => count(-1));
    }
    const b = target.bastion;
    const jump = await connect(
      { ...b, connectTimeoutMs: target.connectTimeoutMs },
      `bastion ${b.user}@${b.host}:${b.port}`,
      signal,
    );
    try {
      const stream = await new Promise<ClientChannel>((resolve, reject) =>
        jump.client.forwardOut("127.0.0.1", 0, target.host, target.port, (err, s) =>
          err
            ? reject(
                new SSHError(
                  "HostUnreachable",
                  `bastion could not reach ${target.host}:${target.port}: ${err.message}`,
                ),
              )
            : resolve(s),
        ),
      );
      const { client, hostKey } = await connect(
        target,
        `${target.user}@${target.host}:${target.port} via bastion`,
        signal,
        stream,
      );
      count(1);
      return new Ssh2Connection(client, hostKey, () => count(-1), jump.client);
    } catch (e) {
      jump.client.end();
      throw e;
    }
  }
}
