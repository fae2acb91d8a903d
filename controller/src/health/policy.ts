/**
 * Health of provisioned machines, the pure part: when to probe next (jittered), what a probe's
 * outcome means for the `HostHealthy` condition (a failure is confirmed by a second probe before
 * the condition turns False). No I/O and no clock of its own: times and randomness are passed in.
 * (What Ready says while a provisioned host is down is decided in the RemoteMachine's status.ts.)
 */
import { ConditionStatus, HostHealthyReason, Reason } from "@capi-remote/shared";

/** Consecutive failed probes before HostHealthy turns False (one lost packet is not a dead host). */
export const FAILURES_TO_CONFIRM = 2;
/** The confirming probe follows a failure after this share of the interval (at most 5 s). */
const CONFIRM_SHARE = 0.5;
const CONFIRM_MAX_MS = 5_000;
/** Regular probes are spread over interval +/- this share, so machines do not probe in step. */
export const JITTER = 0.2;

/** One probe: an SSH connection (host key verified, our key accepted) that ran `true`. */
export interface ProbeOutcome {
  ok: boolean;
  /** For failures: the SSH failure reason (shared reasons, e.g. HostUnreachable, HostKeyMismatch). */
  reason?: string;
  message?: string;
  at: Date;
}

/** What the HostHealthy condition should say. */
export interface Verdict {
  status: ConditionStatus;
  reason: string;
  message: string;
  /** When the machine was first seen in this state (the first failed probe, for False). */
  since: Date;
}

export interface HealthState {
  verdict?: Verdict;
  /** Consecutive failed probes and the first of them. */
  failures: number;
  firstFailure?: ProbeOutcome;
}

/** A failure that says the machine is gone or is not the machine that was provisioned. */
const DEAD = new Set<string>([Reason.HostUnreachable, Reason.HostKeyMismatch]);

/** Delay before the first probe of a newly watched machine: anywhere in one interval. */
export function firstDelayMs(intervalMs: number, random: number): number {
  return Math.floor(intervalMs * random);
}

/** Delay before the next probe: the interval +/- JITTER, or soon after an unconfirmed failure. */
export function nextDelayMs(intervalMs: number, state: HealthState, random: number): number {
  if (state.failures > 0 && state.failures < FAILURES_TO_CONFIRM)
    return Math.min(CONFIRM_MAX_MS, Math.floor(intervalMs * CONFIRM_SHARE));
  return Math.floor(intervalMs * (1 - JITTER + 2 * JITTER * random));
}

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

/**
 * The state after a probe, and whether the verdict changed (the object is then reconciled).
 * False only for failures that mean the host is gone or replaced (no answer, a reset, another
 * host key); a failure of our own credentials or configuration (a rejected key, a missing
 * Secret) is Unknown: a mistake in a Secret must not make a MachineHealthCheck delete machines.
 */
export function observe(state: HealthState, outcome: ProbeOutcome): { state: HealthState; changed: boolean } {
  let verdict: Verdict | undefined;
  let next: HealthState;
  if (outcome.ok) {
    next = { failures: 0 };
    verdict = {
      status: ConditionStatus.True,
      reason: HostHealthyReason.HostResponding,
      message: "",
      since: outcome.at,
    };
  } else {
    const first = state.failures > 0 && state.firstFailure ? state.firstFailure : outcome;
    next = { failures: state.failures + 1, firstFailure: first };
    const reason = outcome.reason ?? Reason.HostUnreachable;
    const detail = outcome.message ?? reason;
    if (next.failures < FAILURES_TO_CONFIRM) {
      verdict = state.verdict; // not confirmed yet: say nothing new
    } else if (DEAD.has(reason)) {
      verdict = {
        status: ConditionStatus.False,
        reason:
          reason === Reason.HostKeyMismatch ? HostHealthyReason.HostKeyMismatch : HostHealthyReason.HostNotResponding,
        message: `no healthy answer since ${iso(first.at)}: ${detail}`,
        since: first.at,
      };
    } else {
      verdict = {
        status: ConditionStatus.Unknown,
        reason,
        message: `cannot check the machine: ${detail}`,
        since: first.at,
      };
    }
  }
  if (verdict) next.verdict = verdict;
  const prev = state.verdict;
  const changed =
    !!verdict &&
    (!prev || prev.status !== verdict.status || prev.reason !== verdict.reason || prev.message !== verdict.message);
  return { state: next, changed };
}

interface ConditionLike {
  status: ConditionStatus;
  reason: string;
  message: string;
}

/**
 * HostHealthy from the prober's verdict, with the Event to emit when it changes: a Warning when
 * the host is confirmed down (or cannot be checked), a Normal one when it answers again. Nothing
 * before this controller's first probe: the condition written before (by an earlier leader) stands.
 */
export function healthCondition(
  verdict: Verdict | undefined,
  prev: { status?: string } | undefined,
): (ConditionLike & { event?: "Normal" | "Warning" }) | undefined {
  if (!verdict) return undefined;
  const event =
    verdict.status === ConditionStatus.True
      ? prev?.status === ConditionStatus.False
        ? ("Normal" as const)
        : undefined
      : ("Warning" as const);
  return { status: verdict.status, reason: verdict.reason, message: verdict.message, ...(event ? { event } : {}) };
}
