/**
 * What one RemoteMachine reconcile pass knows, and what the controller remembers between
 * passes. Every scope field says which step sets it; phases read only what an earlier phase set.
 */
import type { Cluster, Condition, Machine, RemoteMachine, RemoteMachineStatus } from "@capi-remote/shared";
import type { Named } from "../../kube/objects.js";

export type RM = RemoteMachine & Named;

/** Ready's reason and message while not provisioned. */
export interface Blocker {
  reason: string;
  message: string;
}

/** How a deletion ends (set by the `cleanup` phase; read by `settlePool` and `removeFinalizer`). */
export interface Release {
  /** Cleanup did not happen or failed: the held pool machine is quarantined with this record. */
  failed?: { reason: string; message: string; commands: string[] };
  /** Logged when the finalizer goes. */
  note?: string;
  /** A Warning Event when the finalizer goes (cleanup skipped or given up). */
  warning?: string;
}

export interface Scope {
  /** `namespace/name`. */
  key: string;
  /** The object; replaced by every metadata write of this pass (with the status it started from). */
  rm: RM;
  /** Status being computed: the last unwritten status of a deferred pass, else the object's. */
  status: RemoteMachineStatus;
  conditions: Condition[];
  /** Condition types set in this pass (stamped with the final generation before the write). */
  set: Set<string>;
  /**
   * The Machine found for it (newScope): the owner reference's, or (before Cluster API owns it,
   * e.g. while paused) the one whose infrastructureRef names it. Not yet checked.
   */
  found?: Machine & Named;
  /** The owner reference to a Machine (newScope). */
  owner?: { name: string; uid?: string };
  /** The found Machine's Cluster (newScope). */
  cluster?: Cluster & Named;
  /** The owning Machine, checked to name this RemoteMachine (set by `owner`, or `stopTasks`). */
  machine?: Machine & Named;
  /** Ready's reason when not provisioned (set by any phase that stops). */
  blocker?: Blocker;
  /** Provisioned before this pass: status rebuilt from spec, nothing runs (set by `provisioned`). */
  rebuilt?: boolean;
  /** The Node is looked for in this pass (set on success and for a rebuilt status). */
  checkNode?: boolean;
  /** The bootstrap data (set by `bootstrapData`). */
  data?: { value: string; format?: string; resourceVersion?: string };
  /** Hold a non-urgent status write back this long (a bootstrap's start record is in flight). */
  holdStatusMs?: number;
  /** How the deletion ends (set by `cleanup`). */
  release?: Release;
}
