/** Small process, port and polling helpers shared by the test bed modules. */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { appendFileSync, createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { basename, join } from "node:path";
import { promisify } from "node:util";

export const execFileAsync = promisify(execFile);

/** Where build products and per-run state live: outside the repository, shared by runs. */
export const CACHE_DIR = process.env.CAPI_REMOTE_CACHE ?? join(homedir(), ".cache", "capi-remote");

/**
 * The test command points this at a folder of its own run (`startScratchRun`): every scratch
 * folder goes there, so that what a test leaves is found by listing one folder, and another
 * run's folders (several beds share a machine) are never counted or removed.
 */
export const SCRATCH_ENV = "CAPI_REMOTE_SCRATCH";
/** The run folder's list of folders kept on purpose (they hold no secret; their path was printed). */
const KEPT_LIST = ".kept";

const scratchDirs = new Map<string, "on-failure" | "always" | undefined>();

/**
 * A new empty folder (mode 0700) for a test or a test helper, named `capi-remote-<what>XXXXXX`,
 * removed when this process exits, passed or failed. On exit rather than in a suite's after():
 * helpers make folders outside any suite, and one hook covers every test file and bench.
 * Remove it sooner where it holds a secret that is read into memory (as makeKeyPair does).
 *
 * `keep` keeps it for a look, with its path printed: "on-failure" when the process exits with a
 * failure, "always" when asked to (a debugging switch). Only for folders holding no secret.
 */
export function scratchDir(what: string, opts: { keep?: "on-failure" | "always" } = {}): string {
  const dir = mkdtempSync(join(process.env[SCRATCH_ENV] || tmpdir(), `capi-remote-${what}`));
  if (scratchDirs.size === 0) process.once("exit", removeScratchDirs);
  scratchDirs.set(dir, opts.keep);
  return dir;
}

function removeScratchDirs(code: number) {
  for (const [dir, keep] of scratchDirs) {
    const empty = !existsSync(dir) || readdirSync(dir).length === 0;
    if (!empty && (keep === "always" || (keep === "on-failure" && code !== 0))) {
      console.error(`# kept ${dir}`);
      const root = process.env[SCRATCH_ENV];
      if (root) appendFileSync(join(root, KEPT_LIST), `${basename(dir)}\n`);
      continue;
    }
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch (e) {
      // Something still mounted or busy in it: say so (the test command's check names it too).
      console.error(`# could not remove ${dir}: ${e}`);
    }
  }
}

/**
 * The test command's side: a folder for this run's scratch folders (passed to the test processes
 * in SCRATCH_ENV), and `finish()`, which names what the tests left there, removes it, and
 * returns those names: a non-empty list fails the run. Folders kept on purpose are printed and
 * stay.
 */
export function startScratchRun(): { root: string; env: Record<string, string>; finish(): string[] } {
  const root = mkdtempSync(join(tmpdir(), "capi-remote-run-"));
  // A run stopped by a signal (the test command exits after stopping its bed) takes its folder along.
  let finished = false;
  process.once("exit", () => {
    if (!finished) rmSync(root, { recursive: true, force: true });
  });
  return {
    root,
    env: { [SCRATCH_ENV]: root },
    finish() {
      finished = true;
      const list = join(root, KEPT_LIST);
      const kept = new Set(existsSync(list) ? readFileSync(list, "utf8").split("\n").filter(Boolean) : []);
      const left = readdirSync(root).filter((f) => f !== KEPT_LIST && !kept.has(f));
      for (const f of left) rmSync(join(root, f), { recursive: true, force: true });
      if (kept.size) console.log(`kept for a look (no secrets): ${[...kept].map((f) => join(root, f)).join(" ")}`);
      else rmSync(root, { recursive: true, force: true });
      return left;
    },
  };
}

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
