/** RemoteCluster status as a pure function of what was observed. Table-tested in status.test.ts. */
import {
  type Condition,
  ConditionType,
  ControlPlaneEndpointReason,
  PausedReason,
  ReadyReason,
  type RemoteClusterStatus,
  setCondition,
} from "@capi-remote/shared";

export interface RemoteClusterObserved {
  /** The Cluster or the RemoteCluster is paused. */
  paused: boolean;
  /** spec.controlPlaneEndpoint, when set. */
  /** Either part may be missing (Go omits zero values; k0smotron accepts a host without port). */
  endpoint?: { host?: string | undefined; port?: number | undefined } | undefined;
  generation?: number | undefined;
}

/**
 * The status a RemoteCluster reports: provisioned at once (it is a placeholder InfraCluster;
 * Cluster API copies the endpoint), with Paused and ControlPlaneEndpointSet. While paused only
 * Paused changes. `becameProvisioned` says whether this is the first provisioned status (an Event).
 */
export function remoteClusterStatus(
  before: RemoteClusterStatus | undefined,
  o: RemoteClusterObserved,
  now: Date,
): { status: RemoteClusterStatus; becameProvisioned: boolean } {
  const status: RemoteClusterStatus = structuredClone(before ?? {});
  const conditions: Condition[] = structuredClone(before?.conditions ?? []);
  const gen = o.generation;
  const set = (c: Parameters<typeof setCondition>[1]) => setCondition(conditions, c, now, gen);
  let becameProvisioned = false;
  if (o.paused) {
    set({ type: ConditionType.Paused, status: "True", reason: PausedReason.Paused });
  } else {
    set({ type: ConditionType.Paused, status: "False", reason: PausedReason.NotPaused });
    set(
      o.endpoint
        ? {
            type: ConditionType.ControlPlaneEndpointSet,
            status: "True",
            reason: ControlPlaneEndpointReason.ControlPlaneEndpointSet,
            message: [o.endpoint.host ?? "", o.endpoint.port ?? ""].filter((x) => x !== "").join(":"),
          }
        : {
            type: ConditionType.ControlPlaneEndpointSet,
            status: "False",
            reason: ControlPlaneEndpointReason.ControlPlaneEndpointNotSet,
            message: "no spec.controlPlaneEndpoint; the control plane provider supplies it",
          },
    );
    set({ type: ConditionType.Ready, status: "True", reason: ReadyReason.Provisioned });
    becameProvisioned = !status.initialization?.provisioned;
    status.ready = true;
    status.initialization = { provisioned: true };
  }
  status.conditions = conditions;
  return { status, becameProvisioned };
}
