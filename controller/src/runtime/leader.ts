/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's: a replica takes the lease
 * when it is free or expired, renews it every `retryPeriod`, and every write is a compare-and-swap
 * on resourceVersion, so two replicas can never both believe they lead. A leader that cannot
 * renew within `renewDeadline` stops leading (the process then exits, as controller-runtime does).
 *
 * Expiry is judged by this replica's own monotonic clock, as client-go does: a lease is expired
 * when its record (holder, renew time, transitions) has not changed for `leaseDuration` since
 * this replica first observed it. The holder's `renewTime` is only compared with itself, never
 * with the local wall clock: a standby whose clock runs ahead would otherwise take a live lease.
 */
import { ApiError, isConflict, isNotFound, type KubeApi, R } from "../kube/api.js";
import type { Logger } from "./log.js";

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const micro = (d: Date) => d.toISOString().replace("Z", "000Z");

export class LeaderElector {
  private lease?: Lease;
  private leading = false;
  private stopped = false;
  private lastRenew = 0;
  /** The lease record as last seen, and when (monotonic ms) it was first seen like that. */
  private observed?: { record: string; at: number };

  constructor(
    private readonly api: KubeApi,
    private readonly opts: LeaderOptions,
    private readonly log: Logger,
    /** Monotonic milliseconds (never the wall clock: it can jump, and other replicas' differ). */
    private readonly monotonic: () => number = () => performance.now(),
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  /** Resolves once this replica leads. */
  async acquire(): Promise<void> {
    while (!this.stopped) {
      if (await this.tryAcquireOrRenew()) {
        this.leading = true;
        this.log.info("became leader", {
          lease: `${this.opts.namespace}/${this.opts.name}`,
          identity: this.opts.identity,
        });
        return;
      }
      await new Promise((r) => setTimeout(r, this.opts.retryPeriodMs * (1 + Math.random() * 0.2)));
    }
    throw new Error("stopped before becoming leader");
  }

  /** Renews until leadership is lost; resolves then (never while leading normally). */
  async holdUntilLost(): Promise<void> {
    this.lastRenew = this.monotonic();
    while (!this.stopped) {
      await new Promise((r) => setTimeout(r, this.opts.retryPeriodMs));
      if (this.stopped) return;
      if (await this.tryAcquireOrRenew().catch(() => false)) {
        this.lastRenew = this.monotonic();
      } else if (this.monotonic() - this.lastRenew > this.opts.renewDeadlineMs) {
        this.leading = false;
        this.log.error("lost leadership: could not renew the lease in time");
        return;
      }
    }
  }

  /** Gives the lease up so a standby takes over at once (on clean shutdown). */
  async release(): Promise<void> {
    this.stopped = true;
    if (!this.leading || !this.lease) return;
    this.leading = false;
    try {
      const now = new Date();
      await this.api.replace(R.leases, this.opts.namespace, this.opts.name, {
        ...this.lease,
        spec: { ...this.lease.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: micro(now) },
      });
      this.log.info("released the lease");
    } catch (e) {
      this.log.warn("could not release the lease", { err: e });
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const durationSeconds = Math.ceil(this.opts.leaseDurationMs / 1000);
    let lease: Lease;
    try {
      lease = await this.api.get<Lease>(R.leases, this.opts.namespace, this.opts.name);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      try {
        this.lease = await this.api.create<Lease>(R.leases, this.opts.namespace, {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: this.opts.name, namespace: this.opts.namespace },
          spec: {
            holderIdentity: this.opts.identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: micro(now),
            renewTime: micro(now),
            leaseTransitions: 0,
          },
        });
        return true;
      } catch (e2) {
        if (e2 instanceof ApiError && e2.status === 409) return false;
        throw e2;
      }
    }
    const holder = lease.spec.holderIdentity ?? "";
    const record = JSON.stringify([holder, lease.spec.renewTime, lease.spec.acquireTime, lease.spec.leaseTransitions]);
    const t = this.monotonic();
    if (this.observed?.record !== record) this.observed = { record, at: t };
    const expired = this.observed.at + (lease.spec.leaseDurationSeconds ?? durationSeconds) * 1000 < t;
    if (holder && holder !== this.opts.identity && !expired) return false;
    const mine = holder === this.opts.identity;
    try {
      this.lease = await this.api.replace<Lease>(R.leases, this.opts.namespace, this.opts.name, {
        ...lease,
        spec: {
          holderIdentity: this.opts.identity,
          leaseDurationSeconds: durationSeconds,
          acquireTime: mine ? lease.spec.acquireTime : micro(now),
          renewTime: micro(now),
          leaseTransitions: (lease.spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
        },
      });
      return true;
    } catch (e) {
      if (isConflict(e)) return false;
      throw e;
    }
  }
}
