/**
 * Reachability checks of provisioned machines, off the reconcile loop: each watched machine is
 * probed over SSH every interval (jittered), at most `maxParallel` at once and each within
 * `timeoutMs`; the object is queued only when its verdict changes (health/policy.ts), so a
 * healthy fleet costs SSH handshakes and no API writes.
 */
import { Reason } from "@capi-remote/shared";
import { sshFailure } from "../host/protocol.js";
import type { Dialer, SSHTarget } from "../ssh/executor.js";
import { type FairSlots, namespaceOfKey } from "../ssh/slots.js";
import { firstDelayMs, type HealthState, nextDelayMs, observe, type ProbeOutcome, type Verdict } from "./policy.js";

export interface HealthOptions {
  intervalMs: number;
  timeoutMs: number;
  maxParallel: number;
  /** How often due probes are looked for. */
  tickMs?: number;
  random?: () => number;
  now?: () => Date;
  /**
   * Waits for an SSH slot and returns its release. The default is a slot of the prober's own
   * (`maxParallel`); a scheduler shared with bootstraps and cleanups can be passed in instead.
   */
  acquire?: (key: string, signal: AbortSignal) => Promise<() => void>;
}

/** Runs one probe of a target, bounded by `signal`. */
export type Probe = (target: SSHTarget, signal: AbortSignal, timeoutMs: number) => Promise<ProbeOutcome>;

interface Entry {
  target: SSHTarget;
  dueAt: number;
  running?: AbortController;
  state: HealthState;
}

/** An SSH connection (host key checked, our key accepted) that runs `true`; closed at once. */
export function sshProbe(dialer: Dialer): Probe {
  return async (target, signal, timeoutMs) => {
    const at = new Date();
    try {
      const conn = await dialer.dial(
        { ...target, connectTimeoutMs: Math.min(target.connectTimeoutMs, timeoutMs) },
        signal,
      );
      try {
        const r = await conn.exec("true", { timeoutMs, signal });
        return r.code === 0
          ? { ok: true, at }
          : { ok: false, at, reason: Reason.HostUnreachable, message: `the probe command exited with ${r.code}` };
      } finally {
        conn.close();
      }
    } catch (e) {
      const f = sshFailure(e);
      return {
        ok: false,
        at,
        reason: f.reason,
        message: signal.aborted ? `no answer within ${timeoutMs / 1000} s` : f.message,
      };
    }
  };
}

export class HealthProber {
  private readonly entries = new Map<string, Entry>();
  private timer?: NodeJS.Timeout;
  private running = 0;
  private stopped = false;
  private readonly random: () => number;
  private readonly now: () => Date;

  constructor(
    private readonly probe: Probe,
    /** Called with the key whose verdict changed. */
    private readonly notify: (key: string) => void,
    private readonly opts: HealthOptions,
  ) {
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? (() => new Date());
  }

  /** Whether checks are on (an interval of 0 turns them off). */
  get enabled(): boolean {
    return this.opts.intervalMs > 0 && !this.stopped;
  }

  /** Probes this machine from now on (or keeps probing it with the target given now). */
  watch(key: string, target: SSHTarget): void {
    if (!this.enabled) return;
    const e = this.entries.get(key);
    if (e) {
      e.target = target;
      return;
    }
    this.entries.set(key, {
      target,
      dueAt: this.now().getTime() + firstDelayMs(this.opts.intervalMs, this.random()),
      state: { failures: 0 },
    });
    this.timer ??= setInterval(() => this.tick(), this.opts.tickMs ?? 500);
    this.timer.unref?.();
  }

  /** Stops probing (deleted, paused, not provisioned any more); a probe in flight is aborted. */
  forget(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    e.running?.abort();
    this.entries.delete(key);
    if (this.entries.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** The latest verdict, undefined before the first probe of this controller ended. */
  verdict(key: string): Verdict | undefined {
    return this.entries.get(key)?.state.verdict;
  }

  /** Machines being watched, probes in flight: for metrics and tests. */
  get counts(): { watched: number; running: number } {
    return { watched: this.entries.size, running: this.running };
  }

  stop(): void {
    this.stopped = true;
    for (const key of [...this.entries.keys()]) this.forget(key);
  }

  private tick(): void {
    const now = this.now().getTime();
    for (const [key, e] of this.entries) {
      if (this.running >= this.opts.maxParallel) return;
      if (e.running || e.dueAt > now) continue;
      void this.run(key, e);
    }
  }

  private async run(key: string, e: Entry): Promise<void> {
    const abort = new AbortController();
    e.running = abort;
    this.running++;
    let limit: NodeJS.Timeout | undefined;
    let release: (() => void) | undefined;
    try {
      release = this.opts.acquire ? await this.opts.acquire(key, abort.signal) : undefined;
      if (abort.signal.aborted || this.entries.get(key) !== e) return;
      // The probe's own bound (the dial and the command each get timeoutMs; this ends both).
      limit = setTimeout(() => abort.abort(), 2 * this.opts.timeoutMs);
      const outcome = await this.probe(e.target, abort.signal, this.opts.timeoutMs);
      if (this.entries.get(key) !== e) return; // forgotten meanwhile
      const { state, changed } = observe(e.state, outcome);
      e.state = state;
      e.dueAt = this.now().getTime() + nextDelayMs(this.opts.intervalMs, state, this.random());
      if (changed) this.notify(key);
    } catch {
      // The slot wait was aborted (forgotten, stopped): nothing to record.
      e.dueAt = this.now().getTime() + nextDelayMs(this.opts.intervalMs, e.state, this.random());
    } finally {
      if (limit) clearTimeout(limit);
      release?.();
      e.running = undefined;
      this.running--;
    }
  }
}

/**
 * The prober as the controller runs it: SSH probes that wait in the probe lane of the fair SSH
 * slots (shared with pool facts; a namespace holds at most its share of the lane), at most
 * `opts.maxParallel` of them at once.
 */
export function probeLaneProber(
  dialer: Dialer,
  slots: Pick<FairSlots, "acquire">,
  notify: (key: string) => void,
  opts: Omit<HealthOptions, "acquire">,
): HealthProber {
  return new HealthProber(sshProbe(dialer), notify, {
    ...opts,
    acquire: (key, signal) => slots.acquire("probe", namespaceOfKey(key), signal),
  });
}
