/**
 * What a person's actions mean, apart from how they are shown: cordon, uncordon and release of a
 * pool machine, pause and resume of a Cluster, scaling a MachineDeployment. Each reads the
 * freshest copy from the data source, asks first where the action deletes or disrupts (naming
 * what will happen), sends a patch of spec or annotations (the controller carries it out) and
 * reports the outcome. Pure of any host: tested with a fake DataSource and UiActions.
 */
import { claimantName } from "@capi-remote/shared/pools";
import { actionPatch, type PoolAction, releaseExplanation } from "./actions.js";
import { type DataSource, type KindKey, type Obj, Refused, type UiActions } from "./types.js";

export const POOL_ACTION_LABELS: Record<PoolAction, string> = {
  cordon: "Cordon",
  uncordon: "Uncordon",
  release: "Release",
};

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The one notification of a failed action: what was tried, and the API server's reason. */
export const failure = (what: string, e: unknown) =>
  e instanceof Refused
    ? `${what} was refused by the API server (forbidden): ${message(e)}`
    : `${what} failed: ${message(e)}`;

/** The freshest copy of `o` in the source (the host may hand over an older one). */
export function fresh(source: DataSource, kind: KindKey, o: Obj): Obj {
  return (
    source
      .items(kind)
      .find((x) => x.metadata.namespace === o.metadata.namespace && x.metadata.name === o.metadata.name) ?? o
  );
}

/** The Machine whose infrastructure is `rm` (by owner reference, else by infrastructureRef). */
export function machineOf(source: DataSource, rm: Obj): Obj | undefined {
  const owner = rm.metadata.ownerReferences?.find((r) => r.kind === "Machine");
  const machines = source.items("machines").filter((m) => m.metadata.namespace === rm.metadata.namespace);
  return (
    (owner ? machines.find((m) => m.metadata.name === owner.name) : undefined) ??
    machines.find(
      (m) =>
        m.spec?.infrastructureRef?.kind === "RemoteMachine" && m.spec?.infrastructureRef?.name === rm.metadata.name,
    )
  );
}

/** Kinds whose stores have not loaded yet: an explanation computed from them could be wrong. */
function notLoaded(source: DataSource, kinds: KindKey[]): KindKey[] {
  return kinds.filter((k) => !source.state(k).loaded && !source.state(k).missing);
}

/** Cordon, uncordon or release a pool machine. Release first says what will happen. */
export async function poolAction(source: DataSource, ui: UiActions, p: Obj, action: PoolAction): Promise<boolean> {
  const current = fresh(source, "pooledRemoteMachines", p);
  const name = current.metadata.name;
  if (action === "release") {
    // Whether the claimant still exists decides between "clear a stale claim" and "delete a
    // Machine": never decide it from stores that have not loaded.
    const waiting = notLoaded(source, ["remoteMachines", "machines"]);
    if (waiting.length) {
      ui.error(`Release ${name}: still loading ${waiting.join(" and ")}; try again in a moment`);
      return false;
    }
    const who = claimantName(current as never);
    const claimant = source
      .items("remoteMachines")
      .find((r) => r.metadata.namespace === current.metadata.namespace && r.metadata.name === who);
    const machine = claimant ? machineOf(source, claimant) : undefined;
    if (!(await ui.confirm(releaseExplanation(current, claimant, machine)))) return false;
  }
  try {
    await source.patch("pooledRemoteMachines", current, actionPatch(action, new Date()), "merge");
    ui.ok(
      action === "release"
        ? `Release of ${name} requested; the controller carries it out`
        : `${name} ${action === "cordon" ? "cordoned: it will not be handed out" : "uncordoned"}`,
    );
    return true;
  } catch (e) {
    ui.error(failure(`${POOL_ACTION_LABELS[action]} ${name}`, e));
    return false;
  }
}

/** Pause or resume a Cluster (spec.paused, as clusterctl and Headlamp do). Pausing asks first. */
export async function setClusterPaused(source: DataSource, ui: UiActions, c: Obj, paused: boolean): Promise<boolean> {
  const name = c.metadata.name;
  if (paused) {
    const ok = await ui.confirm({
      title: `Pause Cluster ${name}`,
      message: `Cluster API's controllers stop acting on ${name} and its Machines: nothing is created, repaired, scaled or deleted until it is resumed. Running machines keep running.`,
      ok: "Pause",
    });
    if (!ok) return false;
  }
  try {
    await source.patch("clusters", c, { spec: { paused } }, "merge");
    ui.ok(`Cluster ${name} ${paused ? "paused: its controllers stop acting on it" : "resumed"}`);
    return true;
  } catch (e) {
    ui.error(failure(`${paused ? "Pause" : "Resume"} ${name}`, e));
    return false;
  }
}

/**
 * Scale a MachineDeployment by `delta` replicas from the count it has now. Scaling down deletes
 * a Machine, so it asks first. The patch tests the count it was computed from: if someone
 * scaled in between, the API server refuses it instead of overwriting their change.
 */
export async function scaleDeployment(source: DataSource, ui: UiActions, md: Obj, delta: 1 | -1): Promise<boolean> {
  const current = fresh(source, "machineDeployments", md);
  const name = current.metadata.name;
  const from = current.spec?.replicas;
  if (!Number.isInteger(from) || from + delta < 0) {
    ui.error(`Cannot scale ${name} from ${String(from)} by ${delta}`);
    return false;
  }
  const to = from + delta;
  if (delta < 0) {
    const ok = await ui.confirm({
      title: `Scale ${name} down to ${to}`,
      message: `One Machine of MachineDeployment ${name} is deleted: Cluster API drains its node and removes it from Cluster ${current.spec?.clusterName ?? "?"}.`,
      ok: `Scale to ${to}`,
    });
    if (!ok) return false;
  }
  try {
    await source.patch(
      "machineDeployments",
      current,
      [
        { op: "test", path: "/spec/replicas", value: from },
        { op: "replace", path: "/spec/replicas", value: to },
      ],
      "json",
    );
    ui.ok(`MachineDeployment ${name} scaled from ${from} to ${to}`);
    return true;
  } catch (e) {
    ui.error(failure(`Scale ${name} to ${to}`, e));
    return false;
  }
}
