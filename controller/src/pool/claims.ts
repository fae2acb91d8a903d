/**
 * Claims on pool machines. The protocol (docs/pools.md):
 *
 * - A claim is two annotations on the PooledRemoteMachine (the RemoteMachine's name and UID),
 *   written with a merge patch that carries the resourceVersion the claimer read. The API server
 *   applies it only if the object is unchanged since, so of two claimers of one machine exactly
 *   one succeeds (409 for the other), whatever the number of workers, replicas or restarts.
 * - Within this process, machines being claimed are reserved in memory, so concurrent
 *   reconciles pick different machines and conflicts stay rare.
 * - A claim this process wrote is remembered until the informer cache shows it, so a reconcile
 *   of a stale copy neither claims a second machine for the same RemoteMachine nor hands the
 *   machine to another. The memory is the pool machines' read-your-own-writes overlay
 *   (`written`, runtime/fresh.ts), shared with the pool machine controller's status writes.
 * - Metadata survives `clusterctl move` (status does not): the RemoteMachine also names its
 *   machine in an annotation, which is how a moved object (new UID) is recognised.
 */
import {
  claimantName,
  holds,
  isClaimable,
  type LabelSelectorLike,
  legacyReservation,
  PoolAnnotations,
  type PooledRemoteMachine,
  type QuarantineRecord,
  type RemoteMachine,
} from "@capi-remote/shared";
import { type ApiError, type KubeApi, R } from "../kube/api.js";
import { adoptReservationPatch } from "../migration/k0smotron.js";
import { FreshCache } from "../runtime/fresh.js";
import { type Informer, keyOf } from "../runtime/informer.js";
import type { Logger } from "../runtime/log.js";

type PRM = PooledRemoteMachine & { metadata: { name: string; namespace?: string } };
type RM = RemoteMachine & { metadata: { name: string; namespace?: string } };

/**
 * How long a write here (a claim, a release, a status) counts even if the cache does not show
 * it yet. Longer than the RemoteMachines' 5 s: a claim the cache has not shown must not be
 * forgotten while the API server is slow, or the RemoteMachine would claim a second machine.
 */
const OVERLAY_MAX_AGE_MS = 60_000;
const CAS_ATTEMPTS = 3;

/** A stable, well-spread number from a string (FNV-1a). */
function spread(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const isConflict = (e: unknown) => (e as ApiError | undefined)?.status === 409;
const isNotFound = (e: unknown) => (e as ApiError | undefined)?.status === 404;

export class PoolClaims {
  /** "ns/rmName" -> pool machine names the cache shows claimed by that name. */
  private readonly byClaimant = new Map<string, Set<string>>();
  /**
   * Pool machines as this process last wrote them (claims, releases, status), until the cache
   * shows that version: the one overlay of this kind, read by the pool machine controller too.
   */
  readonly written = new FreshCache<PRM>(OVERLAY_MAX_AGE_MS);
  /** Pool machine keys a reconcile is trying to claim right now. */
  private readonly reserved = new Set<string>();
  /** "ns/pool" -> its machines' names, sorted; dropped when a machine joins or leaves. */
  private readonly sorted = new Map<string, string[]>();

  constructor(
    private readonly api: KubeApi,
    private readonly prms: Informer<PRM>,
    private readonly log: Logger,
  ) {
    const resort = (o: PRM) => this.sorted.delete(`${o.metadata.namespace}/${o.spec.pool}`);
    prms.on({
      onAdd: (o) => {
        this.index(o);
        resort(o);
      },
      onUpdate: (o, old) => {
        this.unindex(old);
        this.index(o);
        if (old.spec.pool !== o.spec.pool) {
          resort(old);
          resort(o);
        }
      },
      onDelete: (o) => {
        this.unindex(o);
        this.written.gone(keyOf(o));
        resort(o);
      },
    });
  }

  private index(o: PRM) {
    const who = claimantName(o);
    this.written.seen(keyOf(o), o);
    if (!who) return;
    const k = `${o.metadata.namespace}/${who}`;
    const set = this.byClaimant.get(k) ?? new Set<string>();
    set.add(o.metadata.name);
    this.byClaimant.set(k, set);
  }

  private unindex(o: PRM) {
    const who = claimantName(o);
    if (!who) return;
    const k = `${o.metadata.namespace}/${who}`;
    const set = this.byClaimant.get(k);
    set?.delete(o.metadata.name);
    if (set?.size === 0) this.byClaimant.delete(k);
  }

  /** The freshest copy we know of a pool machine (a write of this process beats the cache). */
  current(ns: string, name: string): PRM | undefined {
    return this.written.get(`${ns}/${name}`, this.prms.get(ns, name));
  }

  /** Pool machines whose claim names this RemoteMachine (held or not). */
  claimedByName(ns: string, rmName: string): PRM[] {
    const out: PRM[] = [];
    for (const n of this.byClaimant.get(`${ns}/${rmName}`) ?? []) {
      const o = this.current(ns, n);
      if (o) out.push(o);
    }
    // Claims written here that the cache (and so the index) does not show yet.
    for (const [k, o] of this.written.entries())
      if (claimantName(o) === rmName && o.metadata.namespace === ns && !out.some((x) => keyOf(x) === k)) out.push(o);
    return out;
  }

  /** The pool machine this RemoteMachine holds, if any. */
  heldBy(rm: RM): PRM | undefined {
    return this.claimedByName(rm.metadata.namespace ?? "", rm.metadata.name).find((p) => holds(rm, p));
  }

  /** Machines of a pool in a namespace (from the cache, with our own claims applied). */
  poolMachines(ns: string, pool: string): PRM[] {
    return this.prms
      .list()
      .filter((p) => p.metadata.namespace === ns && p.spec.pool === pool)
      .map((p) => this.current(ns, p.metadata.name) ?? p);
  }

  /**
   * Claims a free machine of `pool` for `rm`, or returns undefined when none is free. Each
   * attempt is one compare-and-swap write.
   */
  async claim(rm: RM, pool: string, selector: LabelSelectorLike | undefined): Promise<PRM | undefined> {
    const ns = rm.metadata.namespace ?? "";
    const names = this.poolNames(ns, pool);
    // Each RemoteMachine starts at its own place in the pool, so claimers in other processes (a
    // second replica, an old leader) rarely race for the same machine. The scan stops at the
    // first machine won: a claim costs a look at the machines before it, not a sort of the pool.
    const start = names.length ? spread(rm.metadata.uid ?? rm.metadata.name) % names.length : 0;
    for (let k = 0; k < names.length; k++) {
      const key = `${ns}/${names[(start + k) % names.length]}`;
      if (this.reserved.has(key)) continue;
      const candidate = this.current(ns, key.slice(ns.length + 1));
      if (!candidate || !isClaimable(candidate, pool, selector)) continue;
      this.reserved.add(key);
      try {
        const won = await this.cas(candidate, rm, pool, selector);
        if (won) return won;
      } finally {
        this.reserved.delete(key);
      }
    }
    return undefined;
  }

  /** The names of a pool's machines in a namespace, sorted (cached until one joins or leaves). */
  private poolNames(ns: string, pool: string): string[] {
    const k = `${ns}/${pool}`;
    let names = this.sorted.get(k);
    if (!names) {
      names = this.prms
        .list()
        .filter((p) => p.metadata.namespace === ns && p.spec.pool === pool)
        .map((p) => p.metadata.name)
        .sort();
      this.sorted.set(k, names);
    }
    return names;
  }

  private async cas(start: PRM, rm: RM, pool: string, selector: LabelSelectorLike | undefined) {
    let obj: PRM | undefined = start;
    const ns = rm.metadata.namespace ?? "";
    for (let i = 0; i < CAS_ATTEMPTS && obj && isClaimable(obj, pool, selector); i++) {
      try {
        const res = await this.api.patch<PRM>(R.pooledRemoteMachines, ns, obj.metadata.name, {
          metadata: {
            resourceVersion: obj.metadata.resourceVersion,
            annotations: {
              [PoolAnnotations.ClaimedBy]: rm.metadata.name,
              [PoolAnnotations.ClaimedByUID]: rm.metadata.uid ?? "",
            },
          },
        });
        this.written.noteWritten(keyOf(res), res);
        this.log.info("claimed pool machine", {
          remoteMachine: `${ns}/${rm.metadata.name}`,
          poolMachine: res.metadata.name,
        });
        return res;
      } catch (e) {
        if (isNotFound(e)) return undefined;
        if (!isConflict(e)) throw e;
        // Someone wrote it since we read it: look again, it may still be free.
        obj = await this.api.get<PRM>(R.pooledRemoteMachines, ns, obj.metadata.name).catch((err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        });
      }
    }
    return undefined;
  }

  /**
   * Ends `rm`'s claim on `prm` (only if it still holds it): the machine returns to the pool, or,
   * with `quarantine`, is kept out of it until released. Returns false when the claim was gone.
   */
  async release(
    prm: PRM,
    rm: RM | undefined,
    end: { quarantine?: QuarantineRecord; returningAfter?: { name: string; uid?: string | undefined } } = {},
  ): Promise<boolean> {
    const extra: Record<string, string> = {};
    if (end.quarantine) extra[PoolAnnotations.Quarantined] = JSON.stringify(end.quarantine);
    else if (end.returningAfter)
      extra[PoolAnnotations.ReturningAfter] = [end.returningAfter.name, end.returningAfter.uid ?? ""].join("/");
    return this.clearClaim(prm, (o) => (rm ? holds(rm, o) : !!claimantName(o)), extra);
  }

  /**
   * Turns k0smotron's reservation of `prm` (status only) into a claim annotation, compare-and-swap
   * on the version read, so the machine is never free in between (docs/migration.md). Returns the
   * written object, or undefined when there was nothing to adopt or someone wrote first.
   */
  async adoptLegacy(prm: PRM, uid: string | undefined): Promise<PRM | undefined> {
    const legacy = legacyReservation(prm);
    if (!legacy) return undefined;
    const ns = prm.metadata.namespace ?? "";
    try {
      const res = await this.api.patch<PRM>(R.pooledRemoteMachines, ns, prm.metadata.name, {
        metadata: {
          resourceVersion: prm.metadata.resourceVersion,
          ...adoptReservationPatch(legacy.name, uid).metadata,
        },
      });
      this.written.noteWritten(keyOf(res), res);
      this.log.info("adopted k0smotron's reservation", {
        poolMachine: `${ns}/${prm.metadata.name}`,
        remoteMachine: legacy.name,
      });
      return res;
    } catch (e) {
      if (isNotFound(e) || isConflict(e)) return undefined;
      throw e;
    }
  }

  /**
   * Clears the claim of `prm` while `still(current)` holds, setting `extra` annotations in the
   * same write; compare-and-swap, retried.
   */
  async clearClaim(prm: PRM, still: (o: PRM) => boolean, extra: Record<string, string> = {}): Promise<boolean> {
    const ns = prm.metadata.namespace ?? "";
    let obj: PRM | undefined = this.current(ns, prm.metadata.name) ?? prm;
    for (let i = 0; i < CAS_ATTEMPTS && obj; i++) {
      if (!still(obj)) return false;
      try {
        const res = await this.api.patch<PRM>(R.pooledRemoteMachines, ns, obj.metadata.name, {
          metadata: {
            resourceVersion: obj.metadata.resourceVersion,
            annotations: {
              [PoolAnnotations.ClaimedBy]: null,
              [PoolAnnotations.ClaimedByUID]: null,
              ...extra,
            },
          },
        });
        // A reservation k0smotron wrote lives in status: end it there too, or it would read as a
        // claim again.
        const st = res.status;
        const fixed =
          st?.reserved && st.phase === undefined
            ? await this.api
                .patch<PRM>(
                  R.pooledRemoteMachines,
                  ns,
                  res.metadata.name,
                  { status: { reserved: false, machineRef: null } },
                  "merge",
                  "status",
                )
                .catch(() => res)
            : res;
        this.written.noteWritten(keyOf(fixed), fixed);
        return true;
      } catch (e) {
        if (isNotFound(e)) return false;
        if (!isConflict(e)) throw e;
        obj = await this.api.get<PRM>(R.pooledRemoteMachines, ns, obj.metadata.name).catch((err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        });
      }
    }
    return false;
  }
}
