/**
 * The retry pacing a controller restart must not reset, as it is kept on the object: the
 * bootstrap's retry record and the cleanup's attempts (annotations RemoteAnnotations.BootstrapRetry
 * and CleanupAttempts). Pure: reading is bounded and forgiving, since the text is on an object a
 * tenant may edit: anything malformed reads as "no record" (the same as before the first
 * failure), and a wait is never longer than the cap it was written under.
 */
import { createHash } from "node:crypto";
import { formatTime } from "@capi-remote/shared";

/** Longest record read; ours are under 150 characters. */
const MAX_RECORD_CHARS = 512;
/** More attempts than any cap lets happen (the doubling stops at the cap long before). */
const MAX_ATTEMPTS = 1000;

export interface RetryRecord {
  /** Consecutive failed attempts. */
  attempts: number;
  /** No new attempt before this time (ms since the epoch). */
  notBefore: number;
  /** Digest of the inputs the last attempt had (bootstrap only): a change opens the gate. */
  inputs?: string;
}

/** A short digest of the inputs a retry could see differently (kept on the object, so small). */
export function inputsDigest(inputs: string): string {
  return createHash("sha256").update(inputs).digest("hex").slice(0, 16);
}

/** The record as the annotation holds it. */
export function formatRetry(r: RetryRecord): string {
  return JSON.stringify({
    attempts: r.attempts,
    // Rounded up to the second the annotation keeps: never earlier than the wait it records.
    notBefore: formatTime(new Date(Math.ceil(r.notBefore / 1000) * 1000)),
    ...(r.inputs !== undefined ? { inputs: r.inputs } : {}),
  });
}

/**
 * The record in `text`, or undefined when there is none or it is malformed. `notBefore` is
 * brought down to at most `now + maxWaitMs`: a hand-edited far future must not park a machine.
 */
export function readRetry(text: string | undefined, now: number, maxWaitMs: number): RetryRecord | undefined {
  if (!text || text.length > MAX_RECORD_CHARS) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== "object") return undefined;
  const { attempts, notBefore, inputs } = v as Record<string, unknown>;
  if (typeof attempts !== "number" || !Number.isInteger(attempts) || attempts < 1 || attempts > MAX_ATTEMPTS)
    return undefined;
  const at = typeof notBefore === "string" ? Date.parse(notBefore) : Number.NaN;
  if (!Number.isFinite(at)) return undefined;
  return {
    attempts,
    notBefore: Math.min(at, now + maxWaitMs),
    ...(typeof inputs === "string" && /^[0-9a-f]{16}$/.test(inputs) ? { inputs } : {}),
  };
}
