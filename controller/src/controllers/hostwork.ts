/**
 * The controllers' SSH work: the conversations with machines (host/session/) run as tasks
 * (tasks/taskmanager.ts) that wait in the fair SSH slots (ssh/slots.ts). The two halves know
 * nothing of each other; this is where they meet, for setup.ts and for the reconcilers' tests.
 */
import { sshFailure } from "../host/protocol.js";
import { type HostKind, type HostSessionOptions, HostSessions, LANE } from "../host/session/session.js";
import type { Dialer } from "../ssh/executor.js";
import { FairSlots, namespaceOfKey, type SlotLimits, slotLimits } from "../ssh/slots.js";
import { TaskManager } from "../tasks/taskmanager.js";
import type { HostTask } from "./context.js";

export interface HostWorkOptions {
  /** Told when a task changes or ends (the key it was started under). */
  notify(key: string): void;
  /** Slots per lane; a number gives every lane that many, with no cap per namespace. */
  limits: number | SlotLimits;
  /** Removes the words of the object's Secrets from text read on machines. */
  redact?: (key: string, text: string) => string;
  /** Called once per task when it has ended (metrics). */
  finished?: (t: HostTask) => void;
  sessions?: HostSessionOptions;
}

export function hostWork(dialer: Dialer, opts: HostWorkOptions) {
  const slots = new FairSlots(
    typeof opts.limits === "number"
      ? slotLimits({ bootstrap: opts.limits, cleanup: opts.limits, probe: opts.limits, namespaceShare: 1 })
      : opts.limits,
  );
  const tasks = new TaskManager<HostTask>({
    acquire: (kind, key, signal) => slots.acquire(LANE[kind as HostKind], namespaceOfKey(key), signal),
    notify: opts.notify,
    // An error the conversation threw (the connection, a cancel) is the task's failure.
    failed: (t, e) => {
      t.failure ??= sshFailure(e);
    },
    ...(opts.finished ? { finished: opts.finished } : {}),
  });
  const hosts = new HostSessions(
    dialer,
    opts.redact ?? ((_k, t) => t),
    opts.sessions ?? { warm: { max: 64, idleMs: 10 * 60_000 } },
  );
  return { tasks, hosts, slots };
}
