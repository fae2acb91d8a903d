/**
 * What one PooledRemoteMachine reconcile pass knows, and what the controller remembers between
 * passes. Every scope field says which step sets it. The object as our last write left it is
 * not kept here: it is the pool machines' one overlay, `PoolClaims.written`.
 */
import type {
  Condition,
  MachineFacts,
  PooledRemoteMachine,
  PooledRemoteMachineStatus,
  RemoteMachine,
  returningAfterOf,
} from "@capi-remote/shared";
import type { Named } from "../../kube/objects.js";

export type PRM = PooledRemoteMachine & Named;
export type RM = RemoteMachine & Named;

export interface Scope {
  /** `namespace/name`. */
  key: string;
  ns: string;
  /** The freshest copy: our own claim or status write when newer than the cache (get). */
  prm: PRM;
  /** The informer's copy (newScope): what the API server is known to show. */
  cached?: PRM;
  /** Status and conditions being computed (from prm's). */
  status: PooledRemoteMachineStatus;
  conditions: Condition[];
  /** The RemoteMachine its claim names, and whether it holds the machine (newScope). */
  who?: string;
  claimant?: RM;
  held: boolean;
  /** Cleaned after a RemoteMachine went and waiting for its Machine's deletion (newScope). */
  returning?: ReturnType<typeof returningAfterOf>;
  /**
   * A phase wrote the object's metadata and its watch event brings the next pass: no status is
   * computed or written in this one (set by `legacy`, `duplicate`, `returned`).
   */
  wroteMetadata?: boolean;
}

/** What the controller remembers between passes, per object key. */
export class Memory {
  /** After a failed fact gathering: no new attempt before `at` unless the spec changed. */
  readonly factsGate = new Map<string, { at: number; generation: number | undefined }>();
  /**
   * The outcome of the last release, until the status shows it: the release removes its request
   * annotation, so a status write that loses a race must not lose the outcome with it.
   */
  readonly released = new Map<string, { status: "True" | "False" | "Unknown"; reason: string; message: string }>();
  /** Facts gathered but maybe not yet in the cache. */
  readonly factsDone = new Map<string, { facts: MachineFacts; generation: number | undefined }>();

  forget(key: string): void {
    this.factsGate.delete(key);
    this.factsDone.delete(key);
    this.released.delete(key);
  }
}
