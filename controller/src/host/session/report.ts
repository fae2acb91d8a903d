/**
 * What one conversation with a machine reports back, and what each kind of conversation needs.
 * The controllers run these conversations as tasks (tasks/taskmanager.ts) and read the report on
 * their next pass; this side knows nothing of the task manager.
 */
import { Reason } from "@capi-remote/shared";
import type { SSHTarget } from "../../ssh/executor.js";
import type { Lane } from "../../ssh/slots.js";
import type { KillOutcome, TaskFailure } from "../protocol.js";

export type { TaskFailure } from "../protocol.js";

/** The kinds of conversation with a machine. */
export type HostKind = "bootstrap" | "cleanup" | "probe" | "kill";

/** Which lane of SSH slots a kind of conversation waits in. */
export const LANE: Record<HostKind, Lane> = {
  bootstrap: "bootstrap",
  cleanup: "cleanup",
  kill: "cleanup",
  probe: "probe",
};

/** What a conversation found out, filled in as it goes. */
export interface HostReport {
  /** For probes: what the command printed. */
  output?: string;
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
  /** For kill and cleanup: how stopping the run on the machine went (provablyDead tells). */
  killed?: KillOutcome;
  /** For cleanup: how stopping what the run left after the cleanup commands went. */
  leftovers?: KillOutcome;
}

/**
 * One conversation, ready to run: given the report to fill, a signal that ends it, and a
 * function to call when the report changed in a way the caller should see at once (a step).
 */
export type Conversation = (report: HostReport, signal: AbortSignal, changed: () => void) => Promise<void>;

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
  /** The object's UID: recorded in the run's gate, and compared with a run found on the machine. */
  uid: string;
  /**
   * The object's `bootstrap-started` annotation, if set. It only says which run is this
   * object's after `clusterctl move` (a new UID, the annotation kept); the machine's gate decides
   * whether a run exists, and its age the deadline, so nothing written into the annotation makes
   * a run start twice, be skipped, or get more (or less) time.
   */
  startStamp?: string;
  /**
   * Before following a run that exists on the machine already: durably records what the object
   * must carry from then on (its finalizer, the host key seen on first use).
   */
  attach(hostKey?: string): Promise<void>;
  /**
   * Durably marks the object "bootstrap started" with `stamp` (the value for its
   * `bootstrap-started` annotation, also recorded on the machine), before the run is started on
   * the machine, together with the host key to record on first use and the finalizer (one write).
   */
  markStarted(hostKey: string | undefined, stamp: string): Promise<void>;
}

/** What stopping a run needs. */
export interface StopInput {
  target: SSHTarget;
  useSudo: boolean;
  stateDir: string;
}

export interface ProbeInput {
  target: SSHTarget;
  command: string;
  timeoutMs: number;
  recordHostKey(key: string): Promise<void>;
}

export interface CleanupInput extends StopInput {
  commands: string[];
  commandTimeoutMs: number;
  /**
   * A pool machine's holder's bootstrap data: the files its write_files created are removed
   * after the cleanup commands (ssh/scrub.ts), so the next holder does not get them.
   */
  scrub?: { value: string; format?: string };
}

/** A run that would not stop: nothing may be cleaned or handed on while it lives. */
export function runNotStopped(k: KillOutcome): TaskFailure {
  return {
    reason: Reason.CleanupFailed,
    message:
      k.state === "alive"
        ? `the bootstrap run on the machine would not stop (${k.processes} processes left)`
        : "could not tell whether the bootstrap run on the machine stopped",
    terminal: false,
  };
}

/** A run found on the machine that another object started (same name, other UID and stamp). */
export function foreignRun(stateDir: string, identity: string): TaskFailure {
  return {
    reason: Reason.MachineAlreadyBootstrapped,
    message: `the machine holds the bootstrap of another object under this name (record ${identity.slice(0, 200)} in ${stateDir}); clean the machine (remove that directory after resetting it) or use another one`,
    terminal: false,
  };
}

/** An AbortController that also aborts when `outer` does. */
export function linked(outer: AbortSignal): AbortController {
  const ac = new AbortController();
  if (outer.aborted) ac.abort();
  else outer.addEventListener("abort", () => ac.abort(), { once: true });
  return ac;
}
