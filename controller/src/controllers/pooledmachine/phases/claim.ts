/**
 * Claims nobody will end by themselves: a reservation k0smotron left (adopted as a claim before
 * anything else is written, so the status never shows it free, docs/migration.md), a duplicate
 * claim superseded by the holder's own record, and a cleaned machine whose Machine is gone.
 * Each writes the pool machine's metadata and stops: its watch event brings the next pass.
 */
import {
  claimantName,
  holds,
  legacyReservation,
  PoolAnnotations,
  Reason,
  RemoteAnnotations,
} from "@capi-remote/shared";
import { isNotFound, R } from "../../../kube/api.js";
import type { Phase } from "../../../runtime/reconciler.js";
import { type Deps, targetOf } from "../deps.js";
import type { Scope } from "../scope.js";

const wrote = (s: Scope) => {
  s.wroteMetadata = true;
  return { stop: true };
};

export const legacy = (d: Deps): Phase<Scope> => ({
  name: "legacy",
  when: (s) => !!legacyReservation(s.prm),
  run: async (s) => {
    await d.ctx.pools.adoptLegacy(s.prm, s.held ? s.claimant?.metadata.uid : undefined);
    return wrote(s);
  },
});

/** A duplicate claim: the RemoteMachine it names committed to another pool machine. */
export const duplicate = (d: Deps): Phase<Scope> => ({
  name: "duplicate",
  run: async (s) => {
    const { who, claimant, prm } = s;
    const named = claimant?.metadata.annotations?.[RemoteAnnotations.PoolMachine];
    if (!who || !claimant || s.held || !named || named === prm.metadata.name) return undefined;
    if (await d.ctx.pools.clearClaim(prm, (o) => claimantName(o) === who && !holds(claimant, o))) {
      void d.ctx.events.emit(
        targetOf(prm),
        "Normal",
        Reason.StaleClaimCleared,
        `cleared a duplicate claim by RemoteMachine ${who}, which uses pool machine ${named}`,
      );
    }
    return wrote(s);
  },
});

/** Cleaned after a RemoteMachine went: back in the pool once its Machine is gone too. */
export const returned = (d: Deps): Phase<Scope> => ({
  name: "returned",
  when: (s) => !!s.returning && s.prm.metadata.annotations?.[PoolAnnotations.Release] === undefined,
  run: async (s) => {
    const returning = s.returning as { machine: string; uid?: string };
    const m = d.ctx.inf.machines.get(s.ns, returning.machine);
    if (m && !(returning.uid && m.metadata.uid !== returning.uid)) return undefined;
    await d.ctx.api
      .patch(R.pooledRemoteMachines, s.ns, s.prm.metadata.name, {
        metadata: { annotations: { [PoolAnnotations.ReturningAfter]: null } },
      })
      .catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      });
    const where = s.prm.spec.cordoned ? "cordoned, so kept out of the pool" : "back in the pool";
    void d.ctx.events.emit(
      targetOf(s.prm),
      "Normal",
      Reason.PoolMachineReturned,
      `Machine ${returning.machine} is deleted: ${where}`,
    );
    return wrote(s);
  },
});
