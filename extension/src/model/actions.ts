/**
 * What the right-click actions on a pool machine do: the patch each sends (spec or annotations
 * only; the controller carries them out), and what the Release dialog tells the person. Pure.
 */
import { PoolAnnotations, quarantineOf } from "@capi-remote/shared/contract";
import { claimantName } from "@capi-remote/shared/pools";
import type { Obj } from "./types.js";

export type PoolAction = "cordon" | "uncordon" | "release";

/** Which actions make sense for the machine as it is now. */
export function availableActions(p: Obj): PoolAction[] {
  const out: PoolAction[] = [p.spec?.cordoned ? "uncordon" : "cordon"];
  const releasable = !!claimantName(p as never) || !!quarantineOf(p.metadata.annotations);
  if (releasable && p.metadata.annotations?.[PoolAnnotations.Release] === undefined) out.push("release");
  return out;
}

/** The merge patch of an action. */
export function actionPatch(action: PoolAction, at: Date): Record<string, unknown> {
  switch (action) {
    case "cordon":
      return { spec: { cordoned: true } };
    case "uncordon":
      return { spec: { cordoned: false } };
    case "release":
      return { metadata: { annotations: { [PoolAnnotations.Release]: at.toISOString() } } };
  }
}

/**
 * What a release will do, in words, naming the Machine and Cluster affected. `machine` is the
 * Machine whose infrastructure is the claiming RemoteMachine, if any.
 */
export function releaseExplanation(
  p: Obj,
  claimant: Obj | undefined,
  machine: Obj | undefined,
): { title: string; message: string; ok: string } {
  const name = p.metadata.name;
  const q = quarantineOf(p.metadata.annotations);
  if (q) {
    return {
      title: `Release ${name} from quarantine`,
      message: `Its cleanup failed (${q.message}). The controller will run the cleanup again; if it succeeds, ${name} returns to the pool${p.spec?.cordoned ? " (cordoned, so it stays out until uncordoned)" : ""}. If it fails again it stays quarantined.`,
      ok: "Retry cleanup",
    };
  }
  const who = claimantName(p as never);
  if (who && !claimant) {
    return {
      title: `Release ${name}`,
      message: `RemoteMachine ${who} no longer exists. Its claim on ${name} is cleared at once and the machine is available again${p.spec?.cordoned ? " (but stays cordoned)" : ""}.`,
      ok: "Clear claim",
    };
  }
  if (who && claimant) {
    const m = machine
      ? `Machine ${machine.metadata.name} of Cluster ${machine.spec?.clusterName ?? "?"} is deleted: Cluster API drains its node and removes it from the cluster (a MachineDeployment will create a replacement).`
      : `RemoteMachine ${who} is deleted (it has no Machine).`;
    return {
      title: `Retire ${name} from its cluster`,
      message: `${name} is in use by RemoteMachine ${who}. ${m} The machine is then cleaned up and ${p.spec?.cordoned ? "stays out of the pool (cordoned)" : "returns to the pool"}.`,
      ok: "Retire and release",
    };
  }
  return { title: `Release ${name}`, message: `${name} is not claimed; there is nothing to release.`, ok: "OK" };
}
