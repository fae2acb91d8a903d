/**
 * What a deletion's cleanup does on the machine besides its cleanup commands (M14), in this order
 * after them: the processes the bootstrap run left are stopped (daemons its steps started, also
 * those that left its session: kill-run.sh, mode left), then, for a pool machine, the files its
 * holder's bootstrap data created through `write_files` are removed, so that the next holder does
 * not find them (a kubeadm join configuration with its token, a k0s token file). The list comes
 * from the data itself (planned again in the worker pool), never from the machine. Files the data
 * appended to existed before it and stay. What the holder's commands did as root beyond that
 * (a systemd unit, other files, users, symlinks elsewhere) is not undone: docs/security.md says
 * what a pool guarantees.
 */
import { BootstrapDataError, shq } from "../cloudinit/plan.js";
import { planPool } from "../cloudinit/planpool.js";
import { type KillOutcome, leftoversCommand, parseKill } from "../host/protocol.js";
import type { ExecResult } from "./executor.js";

/** How processes the run left that would not die show among a cleanup's failed commands. */
export const LEFTOVERS_STEP = "stop the processes the bootstrap left";

/**
 * Stops every process the run of `stateDir` left (after the cleanup commands, which may need them
 * to stop cleanly), TERM then KILL after `graceSeconds`; `exec` runs a command as root. Only when
 * the outcome is provably dead (host/protocol.ts provablyDead) may the files and the state
 * directory go: the state directory holds the run's record, which finds them.
 */
export async function stopLeftovers(
  exec: (command: string, timeoutMs: number) => Promise<ExecResult>,
  stateDir: string,
  graceSeconds: number,
): Promise<KillOutcome> {
  return parseKill(await exec(leftoversCommand(stateDir, graceSeconds), (graceSeconds + 15) * 1000));
}

/** How an unfinished scrub shows among a cleanup's failed commands. */
export const SCRUB_STEP = "remove the files the bootstrap data wrote";

/** Longest `rm` command line sent (paths go in as many commands as needed). */
const MAX_COMMAND_BYTES = 64 * 1024;

/** `rm -f --` commands for `paths`, each at most MAX_COMMAND_BYTES long (a path is at most 4 KiB). */
export function removeCommands(paths: readonly string[]): string[] {
  const out: string[] = [];
  let cur = "";
  for (const p of new Set(paths)) {
    const word = ` ${shq(p)}`;
    if (cur && cur.length + word.length > MAX_COMMAND_BYTES) {
      out.push(cur);
      cur = "";
    }
    cur = (cur || "rm -f --") + word;
  }
  if (cur) out.push(cur);
  return out;
}

/** The commands that remove what the data's write_files created; none for data that never planned. */
export async function scrubCommands(data: { value: string; format?: string }): Promise<string[]> {
  try {
    // The hostname only matters to jinja expressions in contents, not to paths.
    const plan = await planPool().plan(data.value, data.format, { hostname: "localhost" });
    return removeCommands(plan.steps.flatMap((s) => (s.kind === "file" && !s.append ? [s.path] : [])));
  } catch (e) {
    // Data that was refused never ran, so it wrote nothing.
    if (e instanceof BootstrapDataError) return [];
    throw e;
  }
}
