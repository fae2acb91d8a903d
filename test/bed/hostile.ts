/**
 * Hostile SSH servers for the adversarial tests: real SSH (ssh2's Server, or raw TCP for what
 * happens before the SSH handshake) on a loopback port each test owns. Each behaves the way a
 * machine under a tenant's control may: trickling the handshake, flooding a banner, streaming
 * without end, holding a session open while answering keepalives. Each records what it saw
 * (commands, bytes sent, whether a session carried stdin) so tests can assert nothing was sent.
 */
import { createServer, type Server as NetServer, type Socket } from "node:net";
import ssh2, { type ParsedKey } from "ssh2";

const { Server, utils } = ssh2;
type SshServer = InstanceType<typeof Server>;

export type HostileMode =
  /** Every exec prints `bytes` bytes of "A" without a newline, then exits 0. */
  | { kind: "flood"; bytes: number }
  /** Every exec answers nothing and never ends; keepalives are answered (ssh2 does that). */
  | { kind: "hang" }
  /** Sends its ident one byte per `intervalMs`, never completing the handshake. */
  | { kind: "trickle"; intervalMs: number }
  /** Sends `lines` pre-ident lines of `lineBytes` bytes each (RFC 4253 allows lines before the ident). */
  | { kind: "banner"; lines: number; lineBytes: number }
  /** A normal SSH server that accepts any key and runs nothing: records what it was asked. */
  | { kind: "record" }
  /** A black hole: accepts TCP and never sends a byte (a dial waits its whole connect timeout). */
  | { kind: "silent" };

export interface HostileServer {
  host: string;
  port: number;
  /** "ssh-ed25519 AAAA…" of its host key (ssh2 modes). */
  hostPublicKey: string;
  /** Commands it was asked to run. */
  commands: string[];
  /** Bytes it wrote to clients (flood) or received on stdin. */
  sent: number;
  stdinBytes: number;
  /** Connections it accepted. */
  connections: number;
  /** Connections open now (silent, trickle, banner). */
  open: number;
  close(): Promise<void>;
}

/**
 * An ed25519 key pair from ssh2 that ssh2 itself can read back. ssh2 1.17's keygen strips leading
 * zero bytes off the public key, so about 1 pair in 256 parses as "Malformed OpenSSH public key"
 * (mscdex/ssh2#1513, #1390, open); such a pair is made again.
 */
export function ed25519KeyPair(): { private: string; public: string; parsedPublic: ParsedKey } {
  for (;;) {
    const key = utils.generateKeyPairSync("ed25519");
    const pub = utils.parseKey(key.public);
    if (!(pub instanceof Error) && !(utils.parseKey(key.private) instanceof Error))
      return { ...key, parsedPublic: pub };
  }
}

/** Starts a hostile server on 127.0.0.1 (or `host`), on a free port. */
export async function startHostile(mode: HostileMode, host = "127.0.0.1"): Promise<HostileServer> {
  const key = ed25519KeyPair();
  const pub = key.parsedPublic;
  const info: HostileServer = {
    host,
    port: 0,
    hostPublicKey: `ssh-ed25519 ${pub.getPublicSSH().toString("base64")}`,
    commands: [],
    sent: 0,
    stdinBytes: 0,
    connections: 0,
    open: 0,
    close: async () => {},
  };
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const clients = new Set<{ end(): void }>();
  let server: NetServer | SshServer;
  if (mode.kind === "trickle" || mode.kind === "banner" || mode.kind === "silent") {
    server = createServer((sock) => {
      info.connections++;
      info.open++;
      sockets.add(sock);
      sock.on("error", () => {});
      sock.on("close", () => {
        sockets.delete(sock);
        info.open--;
      });
      // Reads (and drops) what the client says, so its close is seen; says nothing.
      if (mode.kind === "silent") return void sock.resume();
      if (mode.kind === "trickle") {
        const ident = Buffer.from("SSH-2.0-OpenSSH_9.9\r\n");
        let i = 0;
        const t = setInterval(() => {
          if (sock.destroyed || i >= ident.length) return clearInterval(t);
          sock.write(ident.subarray(i, ++i));
          info.sent++;
        }, mode.intervalMs);
        timers.add(t);
      } else {
        const line = `${"B".repeat(mode.lineBytes - 2)}\r\n`;
        let n = 0;
        const pump = () => {
          while (n < mode.lines && !sock.destroyed) {
            n++;
            info.sent += line.length;
            if (!sock.write(line)) return void sock.once("drain", pump);
          }
        };
        pump();
      }
    });
  } else {
    const ssh = new Server({ hostKeys: [key.private] }, (client) => {
      info.connections++;
      clients.add(client);
      client.on("close", () => clients.delete(client));
      client.on("error", () => {});
      client.on("authentication", (ctx) => ctx.accept());
      client.on("ready", () => {
        client.on("session", (accept) => {
          const session = accept();
          session.on("exec", (acc, _rej, req) => {
            info.commands.push(req.command);
            const ch = acc();
            ch.on("data", (d: Buffer) => {
              info.stdinBytes += d.length;
            });
            ch.on("error", () => {});
            if (mode.kind === "flood") {
              const chunk = Buffer.alloc(64 * 1024, "A");
              const pump = () => {
                while (info.sent < mode.bytes) {
                  if (ch.destroyed || (ch as unknown as { closed?: boolean }).closed) return;
                  info.sent += chunk.length;
                  if (!ch.write(chunk)) return void ch.once("drain", pump);
                }
                ch.exit(0);
                ch.end();
              };
              pump();
            } else if (mode.kind === "record") {
              ch.exit(0);
              ch.end();
            }
            // hang: never answers, never exits.
          });
        });
      });
    });
    server = ssh;
  }
  await new Promise<void>((resolve) => (server as NetServer).listen(0, host, resolve));
  info.port = ((server as NetServer).address() as { port: number }).port;
  info.close = () =>
    new Promise<void>((resolve) => {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      for (const c of clients) c.end();
      (server as NetServer).close(() => resolve());
    });
  return info;
}

/** Samples this process's RSS every `ms` until stopped; returns the peak over the start. */
export function rssSampler(ms = 50): { stop(): { startMiB: number; peakMiB: number } } {
  const start = process.memoryUsage().rss;
  let peak = start;
  const t = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, ms);
  return {
    stop() {
      clearInterval(t);
      peak = Math.max(peak, process.memoryUsage().rss);
      return { startMiB: start / 1048576, peakMiB: peak / 1048576 };
    },
  };
}
