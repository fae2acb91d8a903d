/** Small process, port and polling helpers shared by the test bed modules. */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { createWriteStream } from "node:fs";
import { createServer } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

export const execFileAsync = promisify(execFile);

/** Where build products and per-run state live: outside the repository, shared by runs. */
export const CACHE_DIR = process.env.CAPI_REMOTE_CACHE ?? join(homedir(), ".cache", "capi-remote");

/** A free TCP port on loopback (the kernel picks; the port is released before use). */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** PIDs of the processes `sleep <arg>` (a test tags its sleeps with a unique argument to find them). */
export const sleepsOf = (arg: string): string[] =>
  spawnSync("pgrep", ["-f", `^sleep ${arg}$`])
    .stdout.toString()
    .trim()
    .split("\n")
    .filter(Boolean);

/**
 * The processes matching `pgrep -f pattern` once they are gone or 5 s have passed: a process that
 * was just killed takes a moment to exit on a loaded machine, so "left behind" means still there
 * after that, not in the instant the kill was sent. What escaped a kill lives far longer.
 */
export function processesLeft(pattern: string, ms = 5_000): string[] {
  const end = Date.now() + ms;
  for (;;) {
    const left = spawnSync("pgrep", ["-f", pattern]).stdout.toString().trim().split("\n").filter(Boolean);
    if (left.length === 0 || Date.now() >= end) return left;
    spawnSync("sleep", ["0.05"]);
  }
}

/** Thrown inside a `waitFor` callback to stop waiting at once (the thing waited for died). */
export class Fatal extends Error {}

/** Polls `fn` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 30_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      if (e instanceof Fatal) throw e;
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const detail = lastErr instanceof Error ? `: ${lastErr.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(intervalMs);
  }
}

/** Starts a long-running process with its output appended to `logFile`. */
export function startProcess(cmd: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv): ChildProcess {
  const out = createWriteStream(logFile, { flags: "a" });
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  child.on("error", (e) => out.write(`spawn error: ${e.message}\n`));
  return child;
}

/** True when a process with this PID exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopPid(pid: number | undefined, graceMs = 5000): Promise<void> {
  if (!pid || !alive(pid)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
    while (alive(pid)) await sleep(20);
  }
}
